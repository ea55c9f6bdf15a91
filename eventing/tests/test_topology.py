"""The topology is validated when built; names and rule patterns are derived from it in one place."""

from __future__ import annotations

import re

import pytest

from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, TableSpec, Topology, rule_pattern

SHOP = ServiceSpec(name="shop", publishes=(EventRef("Ping", (1, 2)), EventRef("Pong")))
LISTENER = ServiceSpec(
    name="listener",
    subscriptions=(
        Subscription("pings", events=(EventRef("Ping", (2,)), EventRef("Pong"))),
        Subscription("old-pings", events=(EventRef("Ping"),), batch_size=1, visibility_timeout_seconds=90),
    ),
)
RULE_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")  # EventBridge's rule-name constraint


def test_a_consistent_topology_builds_and_answers_questions() -> None:
    topology = Topology(services=(SHOP, LISTENER))

    assert topology.service("listener") is LISTENER
    assert topology.producer_of("Pong") is SHOP
    assert [(s.name, sub.name) for s, sub in topology.subscriptions()] == [("listener", "pings"), ("listener", "old-pings")]
    assert LISTENER.subscription("old-pings").batch_size == 1
    assert LISTENER.subscription("old-pings").visibility_timeout_seconds == 90
    assert SHOP.source == "shop.shop"
    with pytest.raises(KeyError, match="no service 'nobody'"):
        topology.service("nobody")
    with pytest.raises(KeyError, match="has no subscription 'nothing'"):
        LISTENER.subscription("nothing")


def test_defaults_follow_the_design() -> None:
    subscription = Subscription("s", events=(EventRef("Ping"),))
    assert EventRef("Ping").versions == (1,)
    assert (subscription.batch_size, subscription.visibility_timeout_seconds, subscription.max_receive_count) == (10, 30, 5)
    table = TableSpec()
    assert (table.partition_key, table.sort_key, table.ttl_attribute, table.stream_view_type) == (
        "pk",
        "sk",
        "expires_at",
        "NEW_AND_OLD_IMAGES",
    )


def test_accepts_only_declared_types_and_versions() -> None:
    pings = LISTENER.subscription("pings")
    assert pings.accepts("Ping", 2)
    assert pings.accepts("Pong", 1)
    assert not pings.accepts("Ping", 1)
    assert not pings.accepts("Pong", 2)
    assert not pings.accepts("Other", 1)


def test_subscribing_to_an_event_nobody_publishes_raises() -> None:
    orphan = ServiceSpec(name="listener", subscriptions=(Subscription("ghosts", events=(EventRef("Ghost"),)),))

    with pytest.raises(KeyError, match=r"Ghost must have exactly one producer, has \[\]"):
        Topology(services=(SHOP, orphan))


def test_subscribing_to_a_version_that_is_not_published_raises() -> None:
    future = ServiceSpec(name="listener", subscriptions=(Subscription("next", events=(EventRef("Pong", (1, 2)),)),))

    with pytest.raises(ValueError, match=r"listener/next subscribes to Pong v\[2\] which shop does not publish"):
        Topology(services=(SHOP, future))


def test_an_event_with_two_producers_cannot_be_subscribed_to() -> None:
    rival = ServiceSpec(name="rival", publishes=(EventRef("Pong"),))

    with pytest.raises(KeyError, match=r"Pong must have exactly one producer, has \['shop', 'rival'\]"):
        Topology(services=(SHOP, rival, LISTENER))


def test_duplicate_service_names_raise() -> None:
    with pytest.raises(ValueError, match="service names repeat"):
        Topology(services=(SHOP, LISTENER, ServiceSpec(name="shop")))


def test_duplicate_subscription_names_in_a_service_raise() -> None:
    twice = ServiceSpec(
        name="listener",
        subscriptions=(Subscription("pings", events=(EventRef("Pong"),)), Subscription("pings", events=(EventRef("Ping"),))),
    )

    with pytest.raises(ValueError, match="listener repeats a subscription name"):
        Topology(services=(SHOP, twice))


def test_the_same_subscription_name_in_two_services_is_fine() -> None:
    other = ServiceSpec(name="other", subscriptions=(Subscription("pings", events=(EventRef("Pong"),)),))
    topology = Topology(services=(SHOP, LISTENER, other))
    naming = Naming(stage="t")

    assert naming.queue("listener", "pings") != naming.queue("other", "pings")
    assert len(list(topology.subscriptions())) == 3


# --- naming ----------------------------------------------------------------------------------------


def test_names_are_derived_from_stage_and_prefix() -> None:
    naming = Naming(stage="dev")

    assert naming.bus == "shop-dev"
    assert naming.archive == "shop-dev-archive"
    assert naming.table("orders") == "shop-dev-orders"
    assert naming.queue("orders", "charge-payment") == "shop-dev-orders-charge-payment"
    assert naming.dlq("orders", "charge-payment") == "shop-dev-orders-charge-payment-dlq"
    assert naming.rule("orders", "charge-payment", "StockReserved") == "shop-dev-orders-charge-payment-StockReserved"
    assert Naming(stage="dev", prefix="acme").bus == "acme-dev"


def test_a_rule_name_of_exactly_64_characters_is_kept() -> None:
    naming = Naming(stage="t")
    event_type = "E" * (64 - len(naming.queue("svc", "sub")) - 1)

    name = naming.rule("svc", "sub", event_type)

    assert name == f"shop-t-svc-sub-{event_type}"
    assert len(name) == 64


def test_long_rule_names_are_shortened_to_64_distinct_valid_names() -> None:
    naming = Naming(stage="production-eu-west-1")
    subscription = "order-history-and-status-timeline"
    event_types = ["ShipmentRequestedBecauseOfAVeryLongReason", "ShipmentRequestedBecauseOfAVeryLongReasonToo", "Shipment" * 9]

    names = [naming.rule("fulfillment", subscription, event_type) for event_type in event_types]

    for name, event_type in zip(names, event_types, strict=True):
        full = f"shop-production-eu-west-1-fulfillment-{subscription}-{event_type}"
        assert len(full) > 64
        assert len(name) == 64
        assert RULE_NAME.match(name), name
        assert name.startswith(full[:55] + "-")
        assert name == naming.rule("fulfillment", subscription, event_type), "must be stable across runs"
    # They share the first 55 characters, so only the digest tells them apart.
    assert len({name[:55] for name in names}) == 1
    assert len(set(names)) == len(names)


def test_rule_names_of_the_same_queue_differ_per_event_type() -> None:
    naming = Naming(stage="t")

    assert naming.rule("listener", "pings", "Ping") != naming.rule("listener", "pings", "Pong")


# --- rule patterns ---------------------------------------------------------------------------------


def test_rule_pattern_matches_the_producer_the_type_and_the_declared_versions() -> None:
    pings = LISTENER.subscription("pings")

    assert rule_pattern(SHOP, pings.events[0]) == {
        "source": ["shop.shop"],
        "detail-type": ["Ping"],
        "detail": {"metadata": {"schema_version": [2]}},
    }
    assert rule_pattern(SHOP, EventRef("Ping", (1, 2))) == {
        "source": ["shop.shop"],
        "detail-type": ["Ping"],
        "detail": {"metadata": {"schema_version": [1, 2]}},
    }


def test_rule_pattern_uses_the_producers_source_from_the_topology() -> None:
    topology = Topology(services=(SHOP, LISTENER))
    ref = LISTENER.subscription("old-pings").events[0]

    pattern = rule_pattern(topology.producer_of(ref.event_type), ref)

    assert pattern["source"] == [topology.service("shop").source] == ["shop.shop"]
    assert pattern["detail-type"] == ["Ping"]
    assert pattern["detail"]["metadata"]["schema_version"] == [1]

"""Reading an older major as a newer one: the registry's upcasters, and a subscriber using them."""

from __future__ import annotations

import uuid

import pytest

from shop_devstack.testing import embedded_aws, eventbridge_body, lambda_sqs_event, subscription_queue_arn
from shop_eventing.consumer import Subscriber
from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, InvalidEvent, new_event
from shop_eventing.topology import EventRef, Naming, ServiceSpec, Subscription, Topology
from shop_infra.provision import provision

registry = EventRegistry()


@registry.register("Greeting", 1)
class GreetingV1(EventData):
    text: str


@registry.register("Greeting", 2)
class GreetingV2(EventData):
    words: list[str]


@registry.register("Greeting", 3)
class GreetingV3(EventData):
    words: list[str]
    loud: bool


@registry.register_upcaster("Greeting", 1)
def _v1_to_v2(data: GreetingV1) -> GreetingV2:
    return GreetingV2(words=data.text.split())


@registry.register_upcaster("Greeting", 2)
def _v2_to_v3(data: GreetingV2) -> GreetingV3:
    return GreetingV3(words=data.words, loud=False)


def greeting(text: str = "hello there") -> DomainEvent:
    return new_event(GreetingV1(text=text), producer="shop.greeter", correlation_id="c-1")


def test_upcasting_chains_and_keeps_the_event_identity():
    original = greeting()

    read = registry.upcast(original, 3)

    assert read.data == GreetingV3(words=["hello", "there"], loud=False)
    assert read.metadata.schema_version == 3
    assert read.upcast_from == 1
    assert read.published_version == 1
    assert read.event_id == original.event_id
    assert read.metadata.model_dump(exclude={"schema_version"}) == original.metadata.model_dump(exclude={"schema_version"})


def test_an_event_already_in_the_wanted_major_is_unchanged():
    native = new_event(GreetingV2(words=["hi"]), producer="shop.greeter", correlation_id="c-2")
    assert registry.upcast(native, 2) is native
    assert native.published_version == 2


def test_downcasting_and_missing_upcasters_are_refused():
    newer = new_event(GreetingV3(words=["hi"], loud=True), producer="shop.greeter", correlation_id="c-3")
    with pytest.raises(InvalidEvent, match="cannot be read as the older v2"):
        registry.upcast(newer, 2)
    lonely = EventRegistry()
    lonely.register("Solo", 1)(type("SoloV1", (EventData,), {"__annotations__": {"n": int}}))
    lonely.register("Solo", 2)(type("SoloV2", (EventData,), {"__annotations__": {"n": int}}))
    event = lonely.parse({"metadata": {**greeting().metadata.model_dump(mode="json"), "event_type": "Solo"}, "data": {"n": 1}})
    with pytest.raises(InvalidEvent, match="no upcaster from Solo v1 to v2"):
        lonely.upcast(event, 2)


def test_an_upcaster_needs_both_contracts_registered():
    fresh = EventRegistry()
    fresh.register("Half", 1)(type("HalfV1", (EventData,), {"__annotations__": {"n": int}}))
    with pytest.raises(ValueError, match="register Half v2 before its upcaster"):
        fresh.register_upcaster("Half", 1)(lambda data: data)


def test_a_subscriber_of_two_majors_hands_its_handler_the_newer_one():
    topology = Topology(
        services=(
            ServiceSpec(name="greeter", publishes=(EventRef("Greeting", (1, 2, 3)),)),
            ServiceSpec(name="listener", subscriptions=(Subscription("greetings", events=(EventRef("Greeting", (1, 2)),)),)),
        )
    )
    naming = Naming(stage=f"u{uuid.uuid4().hex[:8]}")
    received: list[tuple[int, int | None, GreetingV2]] = []

    def handler(event: DomainEvent, subscriber: str) -> None:
        assert isinstance(event.data, GreetingV2)
        received.append((event.metadata.schema_version, event.upcast_from, event.data))

    with embedded_aws():
        provision(topology, naming)
        subscriber = Subscriber(
            service=topology.service("listener"),
            subscription="greetings",
            registry=registry,
            naming=naming,
            handlers={"Greeting": handler},
            read_as={"Greeting": 2},
        )
        v1 = greeting("good morning")
        v2 = new_event(GreetingV2(words=["good", "evening"]), producer="shop.greeter", correlation_id="c-4")
        v3 = new_event(GreetingV3(words=["hey"], loud=True), producer="shop.greeter", correlation_id="c-5")

        batch = lambda_sqs_event(
            *map(eventbridge_body, (v1, v2, v3)), queue_arn=subscription_queue_arn("listener", "greetings", naming=naming)
        )
        response = subscriber.handle(batch)

    assert response == {"batchItemFailures": []}
    assert received == [
        (2, 1, GreetingV2(words=["good", "morning"])),
        (2, None, GreetingV2(words=["good", "evening"])),
    ]  # v3 is not a version this subscription accepts: it went to the DLQ instead

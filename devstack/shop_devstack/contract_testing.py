"""The machinery of every service's consumer-driven contract tests (shop_contracts.consumer_contracts
says what a declaration is), so that each service's test files hold only what is its own: the
producer's provider states, the consumer's scenarios.

Producer side (`tests/test_contracts_as_producer.py`): the declarations about events the service
publishes are read as files from the other services' folders (never their code), so a new consumer
declaration gets its producer test without anyone editing the producer's tests, unless it names a
provider state the producer does not know yet: then the test says which.

    class TestCatalogAsProducer(ProducerContractTests):   # with a `producer` fixture in the module
        SERVICE = "catalog"
        PROVIDER_STATES = {"a staff member published a new product": a_new_product_is_published, ...}

Consumer side (`tests/test_contracts_as_consumer.py`): every example a service declares goes through
the Lambda function its app registers for that subscription and must have its effect.
A declaration whose example the real handler cannot use would let a producer pass a check against
expectations the consumer does not actually have; these tests keep the two honest.

    class TestOrdersAsConsumer(ConsumerContractTests):   # with a `consumer` fixture in the module
        SERVICE = "orders"
        SCENARIOS = {"orders.product-view:ProductPublished.v1": Scenario(about_a_new_product, product_view_was_kept), ...}

Test tooling: imported by tests only, never by a service at run time.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Protocol

import pytest

from shop_contracts import TOPOLOGY
from shop_contracts.consumer_contracts import (
    ConsumerContract,
    UnknownProviderState,
    check,
    committed_schema,
    consumed_by,
    discover,
    driver_for,
    produced_by,
    schema_errors,
    the_event,
)
from shop_devstack.testing import deliver_example
from shop_eventing.outbox import processed_marker_key, to_dynamodb

REPO_ROOT = Path(__file__).resolve().parents[2]


def declarations_produced_by(service: str) -> list[ConsumerContract]:
    """Every consumer's declaration about an event `service` publishes."""
    return produced_by(discover(REPO_ROOT), service, TOPOLOGY)


def declarations_consumed_by(service: str) -> list[ConsumerContract]:
    """Every declaration `service` makes as a consumer."""
    return consumed_by(discover(REPO_ROOT), service)


class ServiceTable(Protocol):
    """A service test session's view of its own table (each service's `aws` fixture)."""

    @property
    def dynamodb(self) -> Any: ...  # a boto3 DynamoDB client

    @property
    def table(self) -> str: ...

    def outbox(self, **match: object) -> list[dict[str, Any]]: ...


@dataclass
class Producer:
    """A service's real code as a producer: its imported `app` module and the session's embedded AWS.
    Each service's tests extend it with the fixtures its provider states drive."""

    app: ModuleType
    aws: ServiceTable

    def events_about(self, correlation_id: str) -> list[dict[str, Any]]:
        """The details of every event the service wrote to its outbox about `correlation_id`, oldest first."""
        return [item["detail"] for item in self.aws.outbox(correlation_id=correlation_id)]


class ProducerContractTests:
    """The producer side's tests, collected once per service by a subclass named Test... in the
    service's tests/test_contracts_as_producer.py, which sets SERVICE and PROVIDER_STATES (each provider
    state, as consumers name it, mapped to what drives the service's real code there and returns the
    details it published); that module provides the `producer` fixture the drivers are given."""

    SERVICE: ClassVar[str]
    PROVIDER_STATES: ClassVar[Mapping[str, Callable[[Any], list[dict[str, Any]]]]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # One test per declaration, named by it; read when collected, so a new file is a new test.
        if "declaration" in metafunc.fixturenames:
            declarations = declarations_produced_by(self.SERVICE)
            metafunc.parametrize("declaration", declarations, ids=[d.id for d in declarations])

    def test_gives_each_consumer_what_it_relies_on(self, declaration: ConsumerContract, producer: Any) -> None:
        """The event published in the declared provider state has every field the consumer relies on,
        and passes the committed schema."""
        produce = driver_for(declaration, self.PROVIDER_STATES, self.SERVICE)

        detail = the_event(produce(producer), declaration.event_type, declaration.schema_version)

        missing = check(declaration, detail)
        assert missing == [], missing
        problems = schema_errors(committed_schema(declaration.event_type, declaration.schema_version), detail)
        assert problems == [], problems

    def test_an_unknown_provider_state_fails_naming_the_consumer_and_the_state(self) -> None:
        declaration = declarations_produced_by(self.SERVICE)[0]
        unknown = declaration.model_copy(update={"provider_state": "a situation no test drives the producer into"})

        with pytest.raises(UnknownProviderState) as failed:
            driver_for(unknown, self.PROVIDER_STATES, self.SERVICE)

        named = rf"{re.escape(declaration.subscriber)} .* 'a situation no test drives the producer into'"
        assert re.search(named, str(failed.value)), str(failed.value)


def as_new_event(example: Mapping[str, Any], correlation_id: str, **data: Any) -> dict[str, Any]:
    """A copy of a declared example with its own event_id (and the given data): the session's services
    keep processed markers, so an example delivered before would otherwise be skipped as a duplicate."""
    detail = copy.deepcopy(dict(example))
    detail["metadata"].update(event_id=str(uuid.uuid4()), correlation_id=correlation_id)
    detail["data"].update(data)
    return detail


def as_new_event_about_a_new_order(example: Mapping[str, Any], **data: Any) -> dict[str, Any]:
    """`as_new_event` about an order of its own, so nothing earlier in the session touched it."""
    order_id = f"ord-{uuid.uuid4().hex[:12]}"
    return as_new_event(example, order_id, order_id=order_id, **data)


@dataclass(frozen=True)
class Scenario[H]:
    """What the handler needs before the example arrives, and the effect it must have had; `H` is what
    a service's scenarios work with (its test session's AWS, or a handle on its app)."""

    arrange: Callable[[H, dict[str, Any]], dict[str, Any]]
    effect: Callable[[H, dict[str, Any]], None]


@dataclass(frozen=True)
class Consumer[H]:
    """A consuming service under test: what its scenarios are given (`handle`: its test session's AWS,
    or a handle on its app), its imported `app` module, and the table holding its processed markers
    (None for a service that keeps none)."""

    handle: H
    app: ModuleType
    markers_in: ServiceTable | None


class ConsumerContractTests:
    """The consumer side's tests, collected once per service by a subclass named Test... in the
    service's tests/test_contracts_as_consumer.py, which sets SERVICE and SCENARIOS (one per declaration
    id); that module provides the `consumer` fixture (a `Consumer`)."""

    SERVICE: ClassVar[str]
    SCENARIOS: ClassVar[Mapping[str, Scenario[Any]]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # One test per declaration, named by it; read when collected, so a new file is a new test.
        if "declaration" in metafunc.fixturenames:
            declarations = declarations_consumed_by(self.SERVICE)
            metafunc.parametrize("declaration", declarations, ids=[d.id for d in declarations])

    def test_every_scenario_belongs_to_a_declaration(self) -> None:
        assert sorted(self.SCENARIOS) == sorted(d.id for d in declarations_consumed_by(self.SERVICE))

    def test_the_subscription_handles_its_declared_example(self, declaration: ConsumerContract, consumer: Consumer[Any]) -> None:
        """Arrange the declaration's scenario, deliver its example to the subscription's function and
        check the effect. An unusable event is parked in the DLQ without a batch failure, so only the
        processed marker proves the example was applied; a service without markers proves it with the
        effect alone."""
        scenario = self.SCENARIOS.get(declaration.id)
        if scenario is None:
            pytest.fail(f"{declaration.location}: no scenario for {declaration.id} in {type(self).__name__}.SCENARIOS")
        detail = scenario.arrange(consumer.handle, declaration.example)
        response = deliver_example(consumer.app, self.SERVICE, declaration.subscription, detail)

        assert response == {"batchItemFailures": []}, response
        if consumer.markers_in is not None:
            table = consumer.markers_in
            marker = to_dynamodb(processed_marker_key(declaration.subscriber, detail["metadata"]["event_id"]))
            found = table.dynamodb.get_item(TableName=table.table, Key=marker, ConsistentRead=True)
            assert "Item" in found, (
                f"{declaration.subscriber} did not apply the example of {declaration.location}; "
                "its DLQ reason is in the log above"
            )
        scenario.effect(consumer.handle, detail)

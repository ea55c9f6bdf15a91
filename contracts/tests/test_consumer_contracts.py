"""Consumer-driven contracts: the committed declarations are well-formed and cover the topology, and
the verifier catches a producer that stops giving a consumer what it relies on (planted defects).

The producer-side and consumer-side runs live in each service's tests (test_contracts_as_*.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shop_contracts import REGISTRY, TOPOLOGY
from shop_contracts import consumer_contracts as cc
from shop_contracts.consumer_contracts import ConsumerContract, DeclarationInvalid, Found
from shop_eventing.topology import EventRef, ServiceSpec, Subscription, Topology

REPO_ROOT = Path(__file__).resolve().parents[2]
DECLARATIONS = cc.discover(REPO_ROOT)
BY_ID = {declaration.id: declaration for declaration in DECLARATIONS}


def declaration(declaration_id: str) -> ConsumerContract:
    return BY_ID[declaration_id]


def example_of(declaration_id: str) -> dict[str, Any]:
    return copy.deepcopy(declaration(declaration_id).example)


def declarations_about(event_type: str, version: int) -> list[ConsumerContract]:
    return [d for d in DECLARATIONS if (d.event_type, d.schema_version) == (event_type, version)]


def write_declaration(root: Path, service: str, name: str, content: Any) -> Path:
    folder = root / "services" / service / "consumer-contracts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- the committed declarations --------------------------------------------------------------------


def test_every_declaration_file_loads_and_is_named_after_its_content() -> None:
    files = cc.declaration_files(REPO_ROOT)

    assert len(files) == len(DECLARATIONS) > 0
    assert sorted(f"services/{p.parent.parent.name}/consumer-contracts/{p.name}" for p in files) == sorted(
        d.location for d in DECLARATIONS
    )


def test_the_declarations_cover_every_subscribed_event_and_version_exactly() -> None:
    assert cc.coverage_problems(DECLARATIONS, TOPOLOGY) == []
    subscribed = sum(len(ref.versions) for _, subscription in TOPOLOGY.subscriptions() for ref in subscription.events)
    assert len(DECLARATIONS) == subscribed


@pytest.mark.parametrize("declaration", DECLARATIONS, ids=lambda d: d.id)
def test_each_example_passes_its_committed_schema_and_gives_what_it_relies_on(declaration: ConsumerContract) -> None:
    assert cc.declaration_problems(declaration) == []
    # The example is also what the contract model (the consumer's parser) accepts, unchanged: nothing
    # dropped or coerced. Optional fields the producer added since the example was written stay unset.
    parsed = REGISTRY.parse(declaration.example)
    as_given = {
        "metadata": parsed.metadata.model_dump(mode="json"),
        "data": parsed.data.model_dump(mode="json", exclude_unset=True),
    }
    assert as_given == declaration.example


def test_every_declaration_names_its_envelope_idempotency_key() -> None:
    # Every subscriber applies an event once per metadata.event_id: no declaration may forget it.
    assert [d.id for d in DECLARATIONS if "metadata.event_id" not in d.relies_on] == []


# --- coverage against the topology -----------------------------------------------------------------


def topology_with(*subscriptions: Subscription) -> Topology:
    return Topology(
        services=(
            ServiceSpec(
                name="orders", publishes=(EventRef("OrderPlaced", (1, 2)), EventRef("PaymentFailed"), EventRef("OrderCancelled"))
            ),
            ServiceSpec(name="catalog", subscriptions=subscriptions),
        )
    )


def test_a_subscription_without_a_declaration_is_reported_with_the_file_to_add() -> None:
    topology = topology_with(
        Subscription("reserve-stock", events=(EventRef("OrderPlaced"),)),
        Subscription("release-stock", events=(EventRef("PaymentFailed"), EventRef("OrderCancelled"))),
        Subscription("audit", events=(EventRef("OrderPlaced", (1, 2)),)),
    )

    assert cc.coverage_problems(cc.consumed_by(DECLARATIONS, "catalog"), topology) == [
        "catalog.audit consumes OrderPlaced v1 but declares nothing about it: add "
        "services/catalog/consumer-contracts/audit.OrderPlaced.v1.json",
        "catalog.audit consumes OrderPlaced v2 but declares nothing about it: add "
        "services/catalog/consumer-contracts/audit.OrderPlaced.v2.json",
    ]


def test_a_declaration_the_topology_does_not_subscribe_to_is_orphaned() -> None:
    topology = topology_with(Subscription("reserve-stock", events=(EventRef("OrderPlaced", (2,)),)))

    assert cc.coverage_problems(cc.consumed_by(DECLARATIONS, "catalog"), topology) == [
        "catalog.reserve-stock consumes OrderPlaced v2 but declares nothing about it: add "
        "services/catalog/consumer-contracts/reserve-stock.OrderPlaced.v2.json",
        "services/catalog/consumer-contracts/release-stock.OrderCancelled.v1.json is orphaned: "
        "the topology does not subscribe catalog.release-stock to OrderCancelled v1",
        "services/catalog/consumer-contracts/release-stock.PaymentFailed.v1.json is orphaned: "
        "the topology does not subscribe catalog.release-stock to PaymentFailed v1",
        "services/catalog/consumer-contracts/reserve-stock.OrderPlaced.v1.json is orphaned: "
        "the topology does not subscribe catalog.reserve-stock to OrderPlaced v1",
    ]


def test_declarations_are_split_by_consumer_and_by_producer() -> None:
    assert {d.consumer for d in cc.consumed_by(DECLARATIONS, "notify")} == {"notify"}
    assert {d.event_type for d in cc.produced_by(DECLARATIONS, "fulfillment", TOPOLOGY)} == {
        "ShipmentRequested",
        "ShipmentPacked",
        "ShipmentInstructed",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "ShipmentCancelled",
    }
    assert {d.event_type for d in cc.produced_by(DECLARATIONS, "orders", TOPOLOGY)} == {
        "OrderCancelled",
        "OrderPlaced",
        "OrderStatusChanged",
        "PaymentCaptured",
        "PaymentFailed",
        "PaymentRefunded",
    }
    assert {d.event_type for d in cc.produced_by(DECLARATIONS, "vod", TOPOLOGY)} == {
        "VideoUploaded",
        "VideoReady",
        "VideoFailed",
        "EntitlementGranted",
        "EntitlementRevoked",
        "LiveShowStartingSoon",
        "ProductPinned",
        "ProductUnpinned",
    }


# --- loading bad declarations ------------------------------------------------------------------------

VALID = {
    "consumer": "notify",
    "subscription": "order-emails",
    "event_type": "PaymentFailed",
    "schema_version": 1,
    "provider_state": "a payment was declined",
    "description": "e-mails the customer",
    "relies_on": ["data.order_id"],
    "example": {"metadata": {}, "data": {}},
}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({**VALID, "relies_on": []}, "relies_on: Tuple should have at least 1 item after validation, not 0"),
        ({k: v for k, v in VALID.items() if k != "provider_state"}, "provider_state: Field required"),
        ({**VALID, "relies_on": ["order_id"]}, "['order_id'] are not field paths: start with metadata. or data."),
        ({**VALID, "relies_on": ["data.lines[0].sku"]}, "['data.lines[0].sku'] are not field paths"),
        ({**VALID, "relies_on": ["data.order_id", "data.order_id"]}, "['data.order_id'] listed more than once"),
        ({**VALID, "schema_version": 0}, "schema_version: Input should be greater than or equal to 1"),
        ({**VALID, "relys_on": ["data.order_id"]}, "relys_on: Extra inputs are not permitted"),
    ],
    ids=["not-json", "relies-on-nothing", "no-provider-state", "path-without-root", "indexed-path", "repeated", "v0", "typo"],
)
def test_a_bad_declaration_is_an_error_naming_the_file(tmp_path: Path, content: Any, problem: str) -> None:
    path = write_declaration(tmp_path, "notify", "order-emails.PaymentFailed.v1.json", content)

    with pytest.raises(DeclarationInvalid) as error:
        cc.discover(tmp_path)

    assert str(error.value).startswith(f"{path}: ")
    assert problem in str(error.value)


def test_a_declaration_must_be_named_after_its_content_and_live_with_its_consumer(tmp_path: Path) -> None:
    misnamed = write_declaration(tmp_path, "notify", "emails.json", VALID)
    with pytest.raises(DeclarationInvalid, match=r"a declaration of its content is named order-emails\.PaymentFailed\.v1\.json"):
        cc.load(misnamed)

    elsewhere = write_declaration(tmp_path, "catalog", "order-emails.PaymentFailed.v1.json", VALID)
    with pytest.raises(DeclarationInvalid, match=r"declares consumer 'notify' but lives in"):
        cc.load(elsewhere)


# --- resolving field paths -------------------------------------------------------------------------

PAYLOAD = {
    "metadata": {"event_id": "e-1"},
    "data": {
        "order_id": "o-1",
        "note": None,
        "total": {"amount": 0, "currency": "EUR"},
        "lines": [{"sku": "A", "tags": ["x"]}, {"sku": "B", "tags": []}],
        "empty": [],
        "text": "1 Main St",
        "holes": [{"sku": "A"}, None],
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.event_id", [Found("metadata.event_id", "e-1")]),
        ("data.total.amount", [Found("data.total.amount", 0)]),
        ("data.lines[].sku", [Found("data.lines[0].sku", "A"), Found("data.lines[1].sku", "B")]),
        ("data.lines", [Found("data.lines", PAYLOAD["data"]["lines"])]),
        (
            "data.lines[].tags[]",
            [Found("data.lines[0].tags[0]", "x"), Found("data.lines[1].tags", [], "an empty list, so nothing in it was checked")],
        ),
        ("data.missing.deeper", [Found("data.missing", problem="missing")]),
        ("data.note", [Found("data.note", problem="null")]),
        ("data.note.inner", [Found("data.note", problem="null")]),
        ("data.text.line1", [Found("data.text", "1 Main St", "not an object")]),
        ("data.order_id[]", [Found("data.order_id", "o-1", "not a list")]),
        ("data.empty[].sku", [Found("data.empty", [], "an empty list, so nothing in it was checked")]),
        ("data.holes[].sku", [Found("data.holes[0].sku", "A"), Found("data.holes[1]", problem="null")]),
    ],
)
def test_resolve_follows_objects_and_every_list_element(path: str, expected: list[Found]) -> None:
    assert cc.resolve(PAYLOAD, path) == expected
    assert cc.satisfied(PAYLOAD, path) == all(found.problem is None for found in expected)


def test_zero_and_empty_string_are_values_not_gaps() -> None:
    assert cc.satisfied({"data": {"amount": 0, "name": "", "flag": False}}, "data.amount")
    assert cc.satisfied({"data": {"amount": 0, "name": "", "flag": False}}, "data.name")
    assert cc.satisfied({"data": {"amount": 0, "name": "", "flag": False}}, "data.flag")


def test_resolve_refuses_a_malformed_path() -> None:
    with pytest.raises(ValueError, match="is not a field path"):
        cc.resolve(PAYLOAD, "data.lines[0]")


# --- planted defects: the check bites ----------------------------------------------------------------


def without(detail: dict[str, Any], *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(detail)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return changed


def setting(detail: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(detail)
    target: Any = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def violations_for_every_consumer(detail: dict[str, Any]) -> list[str]:
    """What every declaration about the detail's event says of it: only the consumers that rely on
    a broken field may complain."""
    metadata = detail["metadata"]
    return [v for d in declarations_about(metadata["event_type"], metadata["schema_version"]) for v in cc.check(d, detail)]


CAPTURED = "fulfillment.request-shipment:PaymentCaptured.v1"


def test_the_examples_themselves_violate_nothing() -> None:
    for d in DECLARATIONS:
        assert violations_for_every_consumer(d.example) == [], d.id


def test_a_producer_that_drops_a_relied_on_field_is_reported_for_that_consumer_only() -> None:
    produced = without(example_of(CAPTURED), "data", "shipping_address")

    # notify reads the same event but not the address: only fulfillment is broken.
    assert violations_for_every_consumer(produced) == [
        "fulfillment.request-shipment relies on PaymentCaptured v1 field data.shipping_address: data.shipping_address is missing"
    ]


def test_a_producer_that_sets_a_relied_on_field_to_null_is_reported() -> None:
    produced = setting(example_of(CAPTURED), None, "data", "shipping_address")

    assert violations_for_every_consumer(produced) == [
        "fulfillment.request-shipment relies on PaymentCaptured v1 field data.shipping_address: data.shipping_address is null"
    ]


def test_a_producer_that_drops_a_field_of_one_list_element_is_reported_at_that_element() -> None:
    produced = without(example_of(CAPTURED), "data", "lines", 1, "sku")

    assert violations_for_every_consumer(produced) == [
        "fulfillment.request-shipment relies on PaymentCaptured v1 field data.lines[].sku: data.lines[1].sku is missing",
        "notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].sku: data.lines[1].sku is missing",
        "notify.show-reminders relies on PaymentCaptured v1 field data.lines[].sku: data.lines[1].sku is missing",
        "vod.grant-access relies on PaymentCaptured v1 field data.lines[].sku: data.lines[1].sku is missing",
    ]


def test_a_producer_that_empties_a_relied_on_list_is_reported_for_every_field_read_from_it() -> None:
    produced = setting(example_of(CAPTURED), [], "data", "lines")

    empty = "data.lines is an empty list, so nothing in it was checked"
    assert violations_for_every_consumer(produced) == [
        f"fulfillment.request-shipment relies on PaymentCaptured v1 field data.lines[].sku: {empty}",
        f"fulfillment.request-shipment relies on PaymentCaptured v1 field data.lines[].kind: {empty}",
        f"fulfillment.request-shipment relies on PaymentCaptured v1 field data.lines[].quantity: {empty}",
        f"notify.order-emails relies on PaymentCaptured v1 field data.lines[].quantity: {empty}",
        f"notify.order-emails relies on PaymentCaptured v1 field data.lines[].name: {empty}",
        f"notify.order-emails relies on PaymentCaptured v1 field data.lines[].kind: {empty}",
        f"notify.order-emails relies on PaymentCaptured v1 field data.lines[].unit_price.amount: {empty}",
        f"notify.order-emails relies on PaymentCaptured v1 field data.lines[].unit_price.currency: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].sku: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].name: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].kind: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].quantity: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].unit_price.amount: {empty}",
        f"notify.sales-ledger relies on PaymentCaptured v1 field data.lines[].unit_price.currency: {empty}",
        f"notify.show-reminders relies on PaymentCaptured v1 field data.lines[].sku: {empty}",
        f"vod.grant-access relies on PaymentCaptured v1 field data.lines[].sku: {empty}",
    ]


def test_a_producer_that_drops_an_envelope_field_is_reported_for_every_consumer_that_reads_it() -> None:
    produced = without(example_of(CAPTURED), "metadata", "occurred_at")

    assert violations_for_every_consumer(produced) == [
        "fulfillment.request-shipment relies on PaymentCaptured v1 field metadata.occurred_at: metadata.occurred_at is missing",
        "notify.crm-sync relies on PaymentCaptured v1 field metadata.occurred_at: metadata.occurred_at is missing",
        "notify.sales-ledger relies on PaymentCaptured v1 field metadata.occurred_at: metadata.occurred_at is missing",
        "vod.grant-access relies on PaymentCaptured v1 field metadata.occurred_at: metadata.occurred_at is missing",
    ]


def test_a_relied_on_value_of_another_json_type_is_reported() -> None:
    produced = setting(example_of("notify.order-emails:PaymentCaptured.v1"), "53.99", "data", "amount", "amount")

    assert violations_for_every_consumer(produced) == [
        "notify.crm-sync relies on PaymentCaptured v1 field data.amount.amount: "
        "data.amount.amount is a string, the consumer's example has an integer",
        "notify.order-emails relies on PaymentCaptured v1 field data.amount.amount: "
        "data.amount.amount is a string, the consumer's example has an integer",
    ]


def test_an_event_of_another_type_or_version_is_reported_not_checked() -> None:
    placed_v2 = example_of("fulfillment.delivery-addresses:OrderPlaced.v2")

    assert cc.check(declaration("catalog.reserve-stock:OrderPlaced.v1"), placed_v2) == [
        "catalog.reserve-stock relies on OrderPlaced v1, but the producer's event is OrderPlaced v2"
    ]


# --- planted defects in declarations ------------------------------------------------------------------


def amended(declaration_id: str, **changes: Any) -> ConsumerContract:
    return declaration(declaration_id).model_copy(update=changes)


def test_a_declaration_relying_on_a_field_the_schema_does_not_define_is_reported() -> None:
    failed = declaration("notify.order-emails:PaymentFailed.v1")
    invented = amended(failed.id, relies_on=(*failed.relies_on, "data.refund_id"))

    assert cc.declaration_problems(invented) == [
        "services/notify/consumer-contracts/order-emails.PaymentFailed.v1.json: relies on data.refund_id, "
        "but the schema of PaymentFailed v1 defines no field data.refund_id",
        "services/notify/consumer-contracts/order-emails.PaymentFailed.v1.json: example does not satisfy its own relies_on: "
        "notify.order-emails relies on PaymentFailed v1 field data.refund_id: data.refund_id is missing",
    ]


@pytest.mark.parametrize(
    ("declaration_id", "path", "problem"),
    [
        # v1's address is one line of text: only v2 has its parts.
        (
            "fulfillment.delivery-addresses:OrderPlaced.v1",
            "data.shipping_address.postal_code",
            "the schema of OrderPlaced v1 defines no field data.shipping_address.postal_code",
        ),
        (
            "notify.order-emails:PaymentCaptured.v1",
            "data.amount[].currency",
            "the schema of PaymentCaptured v1 does not make data.amount a list",
        ),
        (
            "notify.order-emails:PaymentCaptured.v1",
            "metadata.trace_id",
            "the schema of PaymentCaptured v1 defines no field metadata.trace_id",
        ),
    ],
)
def test_paths_are_checked_against_the_schema_structure(declaration_id: str, path: str, problem: str) -> None:
    schema = cc.committed_schema(declaration(declaration_id).event_type, declaration(declaration_id).schema_version)

    assert cc.undefined_paths(schema, [path]) == [f"{path}, but {problem}"]
    # Nullable objects (anyOf with null) and list items are followed through.
    assert (
        cc.undefined_paths(
            cc.committed_schema("OrderPlaced", 2), ["data.shipping_address.city", "data.lines[].unit_price.amount"]
        )
        == []
    )


def test_an_example_that_breaks_its_schema_is_reported() -> None:
    captured = declaration("notify.order-emails:PaymentCaptured.v1")
    example = setting(copy.deepcopy(captured.example), 53.99, "data", "amount", "amount")
    example = setting(example, "yesterday", "metadata", "occurred_at")

    assert cc.declaration_problems(amended(captured.id, example=example)) == [
        "services/notify/consumer-contracts/order-emails.PaymentCaptured.v1.json: example data.amount.amount: "
        "53.99 is not of type 'integer'",
        "services/notify/consumer-contracts/order-emails.PaymentCaptured.v1.json: example metadata.occurred_at: "
        "'yesterday' is not a 'date-time'",
    ]


def test_a_declaration_about_an_event_without_a_committed_schema_is_reported() -> None:
    v3 = amended("catalog.reserve-stock:OrderPlaced.v1", schema_version=3)

    assert cc.declaration_problems(v3) == [
        f"services/catalog/consumer-contracts/reserve-stock.OrderPlaced.v3.json: no committed schema OrderPlaced.v3.json "
        f"in {cc.SCHEMA_DIR}"
    ]


# --- schema validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ({"a": "x", "n": 1}, []),
        ({"a": None, "n": 1}, []),
        ({"n": 1}, ["(event): 'a' is a required property"]),
        ({"a": "", "n": 1}, ["a: '' is not valid under any of the given schemas"]),
        ({"a": "x", "n": 0}, ["n: 0 is less than or equal to the minimum of 0"]),
        ({"a": "x", "n": 1, "lines": [{"sku": 7}]}, ["lines[0].sku: 7 is not of type 'string'"]),
        ({"a": "x", "n": 1, "t": "2025-06-01 10:15"}, ["t: '2025-06-01 10:15' is not a 'date-time'"]),
        ({"a": "x", "n": 1, "t": "2025-06-01T10:15:00+02:00"}, []),
    ],
)
def test_schema_errors_name_the_field_and_the_rule(value: Any, errors: list[str]) -> None:
    schema = {
        "type": "object",
        "required": ["a", "n"],
        "properties": {
            "a": {"anyOf": [{"$ref": "#/$defs/Name"}, {"type": "null"}]},
            "n": {"type": "integer", "exclusiveMinimum": 0},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
            "t": {"type": "string", "format": "date-time"},
        },
        "$defs": {"Name": {"type": "string", "minLength": 1}},
    }

    assert cc.schema_errors(schema, value) == errors

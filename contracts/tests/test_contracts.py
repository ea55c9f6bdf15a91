"""The event contracts: committed JSON Schemas match the code, the topology only names registered
events, money is integer minor units with an ISO code, and every event survives a JSON round trip."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from shop_contracts import REGISTRY, TOPOLOGY, schemas
from shop_contracts.events import (
    Address,
    DeliveryPreference,
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    LiveShowEndedV1,
    LiveShowStartedV1,
    LiveShowStartingSoonV1,
    Money,
    OrderCancelledV1,
    OrderLine,
    OrderPlacedV1,
    OrderPlacedV2,
    OrderStatusChangedV1,
    PaymentCapturedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    PinnedProduct,
    ProductPinnedV1,
    ProductPublishedV1,
    ProductRetiredV1,
    ProductUnpinnedV1,
    ProductUpdatedV1,
    Rendition,
    ShipmentCancelledV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
    ShipmentInstructedV1,
    ShipmentPackedV1,
    ShipmentRequestedV1,
    StockAdjustedV1,
    StockLevelChangedV1,
    StockLine,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
    UnavailableLine,
    VideoAccess,
    VideoFailedV1,
    VideoOutputs,
    VideoReadyV1,
    VideoSource,
    VideoUploadedV1,
)
from shop_eventing.envelope import DomainEvent, EventData, EventRegistry, InvalidEvent, field_path, new_event

COMMITTED_DIR = Path(schemas.__file__).resolve().parent.parent / "schemas"
NOW = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)

BOOK = OrderLine(sku="BOOK-1", name="A book", kind="physical", quantity=2, unit_price=Money(amount=1250, currency="EUR"))
FILM = OrderLine(
    sku="film.42",
    name="A film",
    kind="digital",
    quantity=1,
    unit_price=Money(amount=399, currency="EUR"),
    access=VideoAccess(product_type="video_rental", video_id="vid-42", rental_hours=48),
)
TWO_BOOKS = [StockLine(sku="BOOK-1", quantity=2)]

# One valid instance of every registered contract, with optional fields set so they round-trip too.
SAMPLES: dict[tuple[str, int], Callable[[], EventData]] = {
    ("ProductPublished", 1): lambda: ProductPublishedV1(
        sku="BOOK-1",
        name="A book",
        kind="physical",
        price=Money(amount=1250, currency="EUR"),
        revision=3,
        product_type="physical_good",
        access=None,
    ),
    ("ProductUpdated", 1): lambda: ProductUpdatedV1(
        sku="film.42",
        name="A film",
        kind="digital",
        product_type="video_rental",
        price=Money(amount=399, currency="EUR"),
        access=VideoAccess(product_type="video_rental", video_id="vid-42", rental_hours=48),
        revision=4,
    ),
    ("ProductRetired", 1): lambda: ProductRetiredV1(sku="BOOK-1", revision=5),
    ("StockAdjusted", 1): lambda: StockAdjustedV1(
        sku="BOOK-1", delta=-2, on_hand=8, reason="damaged", note="wet box", adjusted_by="staff-1"
    ),
    ("OrderPlaced", 1): lambda: OrderPlacedV1(
        order_id="o-1",
        customer_email="ann@example.com",
        lines=[BOOK, FILM],
        total=Money(amount=2899, currency="EUR"),
        shipping_address="1 Main St, Springfield",
        customer_id="cust-1",
        locale="ja",
    ),
    ("OrderPlaced", 2): lambda: OrderPlacedV2(
        order_id="o-1",
        customer_email="ann@example.com",
        lines=[BOOK, FILM],
        total=Money(amount=2899, currency="EUR"),
        shipping_address=Address(
            recipient="Ann",
            line1="1 Main St",
            line2="Flat 2",
            city="Springfield",
            postal_code="12345",
            country="US",
            region="OR",
            phone="+1 555-0100",
        ),
        customer_id="cust-1",
        locale="en",
        delivery=DeliveryPreference(date="2025-03-20", time_slot="14-16"),
    ),
    ("StockReserved", 1): lambda: StockReservedV1(order_id="o-1", lines=[StockLine(sku="BOOK-1", quantity=2)]),
    ("StockRejected", 1): lambda: StockRejectedV1(
        order_id="o-1",
        reason="out_of_stock",
        unavailable=[UnavailableLine(sku="BOOK-1", requested=2, available=1)],
    ),
    ("StockReleased", 1): lambda: StockReleasedV1(order_id="o-1", lines=TWO_BOOKS, reason="order_cancelled"),
    ("PaymentCaptured", 1): lambda: PaymentCapturedV1(
        order_id="o-1",
        payment_id="pay-9",
        amount=Money(amount=2899, currency="EUR"),
        customer_email="ann@example.com",
        lines=[BOOK, FILM],
        shipping_address="1 Main St, Springfield",
        customer_id="cust-1",
        locale="ja",
        structured_address=Address(line1="1 Main St", city="Springfield", postal_code="12345", country="US"),
        delivery=DeliveryPreference(date="2025-03-20", time_slot="am"),
    ),
    ("PaymentFailed", 1): lambda: PaymentFailedV1(
        order_id="o-1",
        amount=Money(amount=500, currency="JPY"),
        customer_email="ann@example.com",
        reason="card_declined",
        customer_id="cust-1",
        locale="ja",
    ),
    ("OrderCancelled", 1): lambda: OrderCancelledV1(
        order_id="o-1",
        cancelled_by="customer",
        reason="changed my mind",
        customer_email="ann@example.com",
        customer_id="cust-1",
        locale="en",
        lines=[BOOK, FILM],
        total=Money(amount=2899, currency="EUR"),
        payment_id="pi_9",
    ),
    ("PaymentRefunded", 1): lambda: PaymentRefundedV1(
        order_id="o-1",
        refund_id="re_1",
        payment_id="pi_9",
        amount=Money(amount=399, currency="EUR"),
        refunded_total=Money(amount=399, currency="EUR"),
        fully_refunded=False,
        reason="the film would not play",
        initiated_by="staff",
        skus=["film.42"],
        customer_email="ann@example.com",
        customer_id="cust-1",
        locale="en",
    ),
    ("ShipmentRequested", 1): lambda: ShipmentRequestedV1(
        shipment_id="s-1", order_id="o-1", lines=TWO_BOOKS, shipping_address="1 Main St"
    ),
    ("ShipmentPacked", 1): lambda: ShipmentPackedV1(shipment_id="s-1", order_id="o-1", lines=TWO_BOOKS, packed_by="staff-1"),
    ("ShipmentInstructed", 1): lambda: ShipmentInstructedV1(
        shipment_id="s-1",
        order_id="o-1",
        logistics_shipment_id="3pl-77",
        carrier="yamato",
        delivery=DeliveryPreference(date="2025-03-20", time_slot="19-21"),
    ),
    ("ShipmentDispatched", 1): lambda: ShipmentDispatchedV1(
        shipment_id="s-1",
        order_id="o-1",
        carrier="yamato",
        tracking_number="1234-5678-9012",
        tracking_url="https://track.example/1234-5678-9012",
        customer_email="ann@example.com",
        customer_id="cust-1",
        locale="ja",
    ),
    ("ShipmentDelivered", 1): lambda: ShipmentDeliveredV1(
        shipment_id="s-1",
        order_id="o-1",
        carrier="yamato",
        tracking_number="1234-5678-9012",
        customer_email="ann@example.com",
        customer_id="cust-1",
        locale="ja",
    ),
    ("ShipmentCancelled", 1): lambda: ShipmentCancelledV1(shipment_id="s-1", order_id="o-1", lines=TWO_BOOKS),
}
# vod's events.
_OUTPUTS = VideoOutputs(
    bucket="media",
    master_playlist_key="outputs/v-1/a1/master.m3u8",
    renditions=[Rendition(name="720p", width=1280, height=720, playlist_key="outputs/v-1/a1/720p/index.m3u8")],
    poster_key="outputs/v-1/a1/poster.jpg",
    storyboard_vtt_key="outputs/v-1/a1/storyboard.vtt",
    storyboard_sprite_key="outputs/v-1/a1/storyboard.jpg",
    duration_ms=2000,
)
SAMPLES.update(
    {
        ("VideoUploaded", 1): lambda: VideoUploadedV1(
            video_id="v-1",
            source=VideoSource(bucket="media", key="sources/v-1/source", size_bytes=10),
            attempt=1,
            uploaded_by="sam",
            uploaded_by_email="sam@example.com",
            title="My film",
        ),
        ("VideoReady", 1): lambda: VideoReadyV1(
            video_id="v-1",
            attempt=1,
            job_id="v-1-a1",
            outputs=_OUTPUTS,
            title="My film",
            uploaded_by="sam",
            uploaded_by_email="sam@example.com",
            locale="en",
            live_show_id="show-1",
        ),
        ("VideoFailed", 1): lambda: VideoFailedV1(
            video_id="v-1",
            attempt=1,
            job_id="v-1-a1",
            error_code="probe_failed",
            error_message="no video stream found",
            title="My film",
            uploaded_by_email="sam@example.com",
        ),
        ("EntitlementGranted", 1): lambda: EntitlementGrantedV1(
            entitlement_id="ent-1",
            customer_id="cust-1",
            order_id="o-1",
            sku="FILM-1",
            product_type="video_rental",
            video_id="v-1",
            granted_at="2026-11-29T10:00:00+00:00",
            expires_at="2026-12-01T10:00:00+00:00",
        ),
        ("EntitlementRevoked", 1): lambda: EntitlementRevokedV1(
            entitlement_id="ent-1",
            customer_id="cust-1",
            order_id="o-1",
            sku="FILM-1",
            product_type="video_rental",
            video_id="v-1",
            reason="order_cancelled",
            revoked_at="2026-11-29T11:00:00+00:00",
        ),
        ("StockLevelChanged", 1): lambda: StockLevelChangedV1(sku="BOOK-1", on_hand=3, stock_version=17),
        ("OrderStatusChanged", 1): lambda: OrderStatusChangedV1(
            order_id="o-1",
            customer_id="cust-1",
            status="PAID",
            previous_status="STOCK_RESERVED",
            status_version=3,
            changed_at="2026-11-29T10:00:01+00:00",
        ),
        ("LiveShowStartingSoon", 1): lambda: LiveShowStartingSoonV1(
            live_show_id="show-1",
            title="Spring collection live",
            starts_at="2026-11-29T20:00:00+00:00",
            watch_url="http://127.0.0.1:8080/live/show-1",
        ),
        ("LiveShowStarted", 1): lambda: LiveShowStartedV1(live_show_id="show-1", started_at="2026-11-29T20:00:03+00:00"),
        ("LiveShowEnded", 1): lambda: LiveShowEndedV1(live_show_id="show-1", ended_at="2026-11-29T21:00:00+00:00"),
        ("ProductPinned", 1): lambda: ProductPinnedV1(
            live_show_id="show-1",
            pin_id="pin-1",
            sequence=3,
            product=PinnedProduct(sku="BOOK-1", name="A book", price=Money(amount=1250, currency="EUR")),
            pinned_at="2026-11-29T20:05:00+00:00",
            offset_ms=297_000,
            pinned_by="sam",
        ),
        ("ProductUnpinned", 1): lambda: ProductUnpinnedV1(
            live_show_id="show-1",
            pin_id="pin-1",
            sequence=4,
            sku="BOOK-1",
            unpinned_at="2026-11-29T20:07:00+00:00",
            offset_ms=417_000,
        ),
    }
)
REGISTERED = [key for key, _ in REGISTRY]


def sample_event(key: tuple[str, int]) -> DomainEvent:
    return new_event(SAMPLES[key](), producer="shop.test", correlation_id="o-1", causation_id="cause-1", now=NOW)


def money_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every place in a dumped `data` object that holds a Money value ({amount, currency})."""
    if isinstance(value, dict):
        if set(value) == {"amount", "currency"}:
            yield path
        for key, item in value.items():
            yield from money_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from money_paths(item, (*path, index))


def replaced(detail: dict[str, Any], path: tuple[str | int, ...], field: str, new: Any) -> dict[str, Any]:
    changed = copy.deepcopy(detail)
    target: Any = changed["data"]
    for part in path:
        target = target[part]
    target[field] = new
    return changed


def detail_money(detail: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    target: Any = detail["data"]
    for part in path:
        target = target[part]
    return dict(target)


# --- committed schemas ----------------------------------------------------------------------------


def test_committed_schemas_are_exactly_the_generated_ones() -> None:
    wanted = schemas.rendered_schemas(schemas.generated_schemas())
    committed = {p.name: p.read_text() for p in COMMITTED_DIR.glob("*.json")}

    assert sorted(wanted) == sorted(f"{t}.v{v}.json" for t, v in REGISTERED)
    assert sorted(committed) == sorted(wanted)
    for name, text in wanted.items():
        assert committed[name] == text, f"{name} is stale"


def test_check_passes_on_the_committed_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--check"]) == 0
    expected = f"contracts OK: {len(REGISTERED)} event versions, each compatible with all its published revisions\n"
    assert capsys.readouterr().out == expected


def test_each_schema_describes_its_envelope() -> None:
    placed = json.loads((COMMITTED_DIR / "OrderPlaced.v1.json").read_text())

    assert placed["title"] == "OrderPlaced v1"
    assert placed["required"] == ["metadata", "data"]
    metadata = placed["$defs"]["OrderPlacedV1Metadata"]["properties"]
    assert metadata["event_type"]["const"] == "OrderPlaced"
    assert metadata["schema_version"]["const"] == 1
    money = placed["$defs"]["Money"]["properties"]
    assert (money["amount"]["type"], money["amount"]["minimum"]) == ("integer", 0)
    assert money["currency"]["pattern"] == "^[A-Z]{3}$"


@pytest.fixture
def schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the committed schemas that `schemas.main` reads instead of the real ones."""
    for path in COMMITTED_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    shutil.copytree(COMMITTED_DIR / "history", tmp_path / "history")
    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path)
    return tmp_path


def test_check_fails_on_an_edited_schema_and_names_it(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = schema_dir / "PaymentCaptured.v1.json"
    edited = json.loads(planted.read_text())
    edited["required"] = ["metadata"]
    planted.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")

    assert schemas.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "schema out of date: contracts/schemas/PaymentCaptured.v1.json (run: make schemas)"
    ]


def test_check_fails_on_a_missing_and_on_an_orphan_schema(schema_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (schema_dir / "StockReleased.v1.json").unlink()
    (schema_dir / "StockReleased.v2.json").write_text("{}\n")

    assert schemas.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "schema out of date: contracts/schemas/StockReleased.v1.json (run: make schemas)",
        "schema without a contract: contracts/schemas/StockReleased.v2.json",
    ]


def test_check_fails_when_a_contract_changes_but_its_schema_was_not_regenerated(
    schema_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = EventRegistry()
    for (event_type, version), contract in REGISTRY:
        if (event_type, version) == ("OrderPlaced", 1):
            contract = create_model(  # noqa: PLW2901 - the planted change: one new optional field
                contract.__name__, __base__=contract, __doc__=contract.__doc__, gift_note=(str | None, None)
            )
        changed.register(event_type, version)(contract)
    monkeypatch.setattr(schemas, "REGISTRY", changed)

    assert schemas.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "schema out of date: contracts/schemas/OrderPlaced.v1.json (run: make schemas)",
        "OrderPlaced v1: the current schema is not recorded as a revision (run: make schemas)",
    ]
    # Regenerating writes the new field into exactly that schema, after which the check passes again.
    assert schemas.main([]) == 0
    capsys.readouterr()
    regenerated = json.loads((schema_dir / "OrderPlaced.v1.json").read_text())
    assert "gift_note" in regenerated["$defs"]["OrderPlacedV1"]["properties"]
    assert (schema_dir / "PaymentCaptured.v1.json").read_text() == (COMMITTED_DIR / "PaymentCaptured.v1.json").read_text()

    # An optional field is a compatible change: recorded as the major's next revision; others are untouched.
    def revisions(root: Path, contract: str) -> list[str]:
        return sorted(p.name for p in (root / "history" / contract).iterdir())

    published = revisions(COMMITTED_DIR, "OrderPlaced.v1")
    assert revisions(schema_dir, "OrderPlaced.v1") == sorted([*published, f"r{len(published) + 1}.json"])
    assert revisions(schema_dir, "PaymentCaptured.v1") == revisions(COMMITTED_DIR, "PaymentCaptured.v1")
    assert schemas.main(["--check"]) == 0


# --- topology vs registry --------------------------------------------------------------------------


def test_every_event_the_topology_publishes_or_subscribes_to_is_registered() -> None:
    named = set()
    for service in TOPOLOGY.services:
        refs = [*service.publishes, *(ref for s in service.subscriptions for ref in s.events)]
        named |= {(ref.event_type, version) for ref in refs for version in ref.versions}

    unregistered = sorted(key for key in named if key not in REGISTRY)
    assert unregistered == []
    assert named, "the topology names no events at all"


def test_every_registered_contract_has_exactly_one_producer() -> None:
    for event_type, version in REGISTERED:
        producer = TOPOLOGY.producer_of(event_type)
        published = next(ref for ref in producer.publishes if ref.event_type == event_type)
        assert version in published.versions, f"{event_type} v{version} is registered but {producer.name} does not publish it"


# --- money ------------------------------------------------------------------------------------------


def test_every_registered_contract_has_a_sample() -> None:
    assert sorted(SAMPLES) == REGISTERED


MONEY_FIELDS = [
    (key, path) for key in REGISTERED if key in SAMPLES for path in money_paths(sample_event(key).to_detail()["data"])
]


def test_money_fields_are_found_where_expected() -> None:
    found = {(key[0], field_path(path)) for key, path in MONEY_FIELDS}
    assert {
        ("OrderPlaced", "total"),
        ("OrderPlaced", "lines[1].unit_price"),
        ("PaymentCaptured", "amount"),
        ("PaymentFailed", "amount"),
        ("ProductPublished", "price"),
    } <= found


@pytest.mark.parametrize(
    ("key", "path"), MONEY_FIELDS, ids=[f"{key[0]}.v{key[1]}:{field_path(path)}" for key, path in MONEY_FIELDS]
)
@pytest.mark.parametrize(
    ("field", "bad", "why"),
    [
        ("amount", 12.5, "Input should be a valid integer"),
        ("amount", -1, "Input should be greater than or equal to 0"),
        ("currency", "eur", "String should match pattern '^[A-Z]{3}$'"),
        ("currency", "EURO", "String should match pattern '^[A-Z]{3}$'"),
    ],
    ids=["fraction", "negative", "lowercase", "four-letters"],
)
def test_money_fields_reject_fractions_negatives_and_bad_currencies(
    key: tuple[str, int], path: tuple[str | int, ...], field: str, bad: Any, why: str
) -> None:
    detail = sample_event(key).to_detail()

    with pytest.raises(InvalidEvent) as error:
        REGISTRY.parse(replaced(detail, path, field, bad))

    assert error.value.reason == f"{key[0]} v{key[1]} data: {field_path((*path, field))}: {why}"
    # The same place with a valid value (zero: a free item) parses and keeps it.
    parsed: Any = REGISTRY.parse(replaced(detail, path, "amount", 0)).to_detail()["data"]
    for part in path:
        parsed = parsed[part]
    assert parsed == {"amount": 0, "currency": detail_money(detail, path)["currency"]}


def test_money_model_itself_rejects_floats_with_a_fraction() -> None:
    assert Money(amount=1999, currency="USD").amount == 1999
    assert Money(amount=0, currency="JPY").amount == 0
    for amount in (19.99, 0.5, -100):
        with pytest.raises(ValueError, match="amount"):
            Money(amount=amount, currency="USD")  # type: ignore[arg-type]
    for currency in ("usd", "US", "US1", ""):
        with pytest.raises(ValueError, match="currency"):
            Money(amount=1, currency=currency)


# --- JSON round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REGISTERED, ids=lambda key: f"{key[0]}.v{key[1]}" if isinstance(key, tuple) else str(key))
def test_every_event_survives_a_json_round_trip(key: tuple[str, int]) -> None:
    event = sample_event(key)

    wire = json.dumps(event.to_detail())
    parsed = REGISTRY.parse(json.loads(wire))

    assert parsed == event
    assert type(parsed.data) is REGISTRY.contract(*key)
    assert parsed.metadata.event_type == key[0]
    assert parsed.metadata.schema_version == key[1]
    assert parsed.metadata.occurred_at == NOW
    assert parsed.to_detail() == json.loads(wire)


# --- reading OrderPlaced v1 as v2 ---------------------------------------------------------------------

LONGEST_ADDRESS = Address(
    recipient="R" * 200, line1="1" * 200, line2="2" * 200, city="C" * 100, postal_code="P" * 20, country="US"
)


def placed_v1_with(shipping_address: str | None) -> DomainEvent:
    data = SAMPLES[("OrderPlaced", 1)]().model_copy(update={"shipping_address": shipping_address})
    return new_event(data, producer="shop.orders", correlation_id="o-1", now=NOW)


def upcast_address(shipping_address: str | None) -> Address | None:
    data = REGISTRY.upcast(placed_v1_with(shipping_address), 2).data
    assert isinstance(data, OrderPlacedV2)
    return data.shipping_address


def test_a_v1_address_becomes_the_first_line_of_a_v2_address() -> None:
    assert upcast_address("1 Main St, Springfield") == Address(line1="1 Main St, Springfield")
    assert upcast_address(None) is None


def test_a_v1_address_longer_than_one_line_is_spread_over_two_and_never_refused() -> None:
    # orders publishes the one-line form of any address it accepts: up to 731 characters.
    text = LONGEST_ADDRESS.as_text()
    assert len(text) == 731

    address = upcast_address(text)

    assert address == Address(line1=text[:200], line2=text[200:400])

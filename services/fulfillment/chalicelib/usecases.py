"""Fulfillment use cases: keep each order's delivery address; request the shipment of a paid order's
physical goods; the warehouse's picking list (pick, pack); hand the parcel to the logistics service
(3PL) or list it in the day's carrier CSV; follow the 3PL's tracking notifications; cancel."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from chalicelib import domain
from chalicelib.carrier_lists import CarrierLists
from chalicelib.carrier_lists import carrier_list_key as carrier_list_key_for
from chalicelib.domain import (
    CANCELLED,
    DEFAULT_HANDOFF,
    DELIVERED,
    DISPATCHED,
    INSTRUCTED,
    NOT_YET_INSTRUCTED,
    PACKED,
    Handoff,
    Shipment,
    Shipper,
    Step,
    plan_shipment,
)
from chalicelib.logistics import (
    CancelRefused,
    InstructionRefused,
    LogisticsService,
    Recipient,
    ShippingInstruction,
)
from chalicelib.repository import AddressNotBetter, ShipmentAlreadyRequested, StatusChanged, TrackingNotNewer
from shop_contracts.events import (
    DeliveryPreference,
    OrderCancelledV1,
    OrderPlacedV2,
    PaymentCapturedV1,
    ShipmentCancelledV1,
    ShipmentDeliveredV1,
    ShipmentDispatchedV1,
    ShipmentInstructedV1,
    ShipmentPackedV1,
    ShipmentRequestedV1,
    StockLine,
)
from shop_eventing.envelope import DomainEvent, EventData, new_event
from shop_eventing.outbox import TransactionalWork

SOURCE = "shop.fulfillment"
log = logging.getLogger("shop.fulfillment")


class Fulfillment(Protocol):
    """The fulfillment table as the use cases read it (chalicelib.repository.FulfillmentRepository)."""

    def shipment(self, order_id: str) -> dict[str, Any] | None: ...

    def cancelled_before_payment(self, order_id: str) -> bool: ...

    def delivery_address(self, order_id: str) -> dict[str, Any] | None: ...

    def delivery_preference(self, order_id: str) -> dict[str, Any] | None: ...

    def picking_list(self, limit: int) -> list[dict[str, Any]]: ...

    def carrier_list(self, day: str) -> list[dict[str, Any]]: ...


class FulfillmentWork(TransactionalWork, Protocol):
    """One transaction on the fulfillment table (chalicelib.repository.FulfillmentUnitOfWork): its own writes, then
    TransactionalWork's events, processed-marker and commit."""

    def add_shipment(self, shipment: Shipment, requested_at: str, details: Mapping[str, Any] | None = None) -> None: ...

    def add_tombstone(self, order_id: str, cancelled_at: str, cancelled_by: str) -> None: ...

    def move_shipment(
        self,
        order_id: str,
        from_statuses: tuple[str, ...],
        to_status: str,
        fields: Mapping[str, Any] | None = None,
        remove: tuple[str, ...] = (),
    ) -> None: ...

    def note_on_shipment(self, order_id: str, fields: Mapping[str, Any], *, in_statuses: tuple[str, ...]) -> None: ...

    def record_tracking(self, order_id: str, logistics_status: str, rank: int, fields: Mapping[str, Any]) -> None: ...

    def keep_delivery_address(
        self, order_id: str, address: dict[str, Any], source_version: int, delivery: dict[str, Any] | None = None
    ) -> None: ...


NewUnitOfWork = Callable[[], FulfillmentWork]


class ShipmentNotFound(Exception):
    """No shipment for the order (or only the tombstone of one cancelled before payment)."""


# -- addresses and requests -------------------------------------------------------------------------


def record_delivery_address(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    """On OrderPlaced (read as v2): keep the structured address (and delivery wish) for the order's shipment.

    During the migration each order arrives twice (v1 and v2, two event_ids): the first one stored
    wins the conditional put; v2's own address is never worse than an upcast v1's, so a v2 arriving
    second replaces an upcast one."""
    placed = event.data
    assert isinstance(placed, OrderPlacedV2)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if placed.shipping_address:
        delivery = placed.delivery.model_dump() if placed.delivery else None
        uow.keep_delivery_address(placed.order_id, placed.shipping_address.model_dump(), event.published_version, delivery)
    try:
        uow.commit()
    except AddressNotBetter:
        _note_seen(new_uow, subscriber, event)


def request_shipment(event: DomainEvent, subscriber: str, new_uow: NewUnitOfWork) -> None:
    """On PaymentCaptured: request one shipment (the purchase order's parcel) for the order's physical
    goods (none if all digital, none if the order was cancelled first: its tombstone holds the key)."""
    paid = event.data
    assert isinstance(paid, PaymentCapturedV1)
    text_address = paid.shipping_address or (paid.structured_address.as_text() if paid.structured_address else None)
    shipment = plan_shipment(paid.order_id, ((line.sku, line.kind, line.quantity) for line in paid.lines), text_address)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if shipment:
        details = {
            "customer_email": paid.customer_email,
            "customer_id": paid.customer_id,
            "locale": paid.locale,
            "structured_address": paid.structured_address.model_dump() if paid.structured_address else None,
            "delivery": paid.delivery.model_dump() if paid.delivery else None,
        }
        uow.add_shipment(shipment, requested_at=event.metadata.occurred_at.isoformat(), details=details)
        uow.add_event(
            event.caused(
                ShipmentRequestedV1(
                    shipment_id=shipment.shipment_id,
                    order_id=shipment.order_id,
                    lines=_lines(shipment_lines(shipment)),
                    shipping_address=shipment.address,
                ),
                producer=SOURCE,
            )
        )
    try:
        uow.commit()
    except ShipmentAlreadyRequested:
        _note_seen(new_uow, subscriber, event)


def shipment_lines(shipment: Shipment) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in sorted(shipment.lines.items())]


def _lines(lines: list[dict[str, Any]]) -> list[StockLine]:
    return [StockLine(sku=line["sku"], quantity=line["quantity"]) for line in lines]


def shipment_for_order(repository: Fulfillment, order_id: str) -> dict[str, Any] | None:
    shipment = repository.shipment(order_id)
    if shipment is None:
        return None
    return {**shipment, "delivery_address": best_address(repository, shipment)}


def best_address(repository: Fulfillment, shipment: Mapping[str, Any]) -> dict[str, Any] | None:
    """PaymentCaptured's structured address when it carried one, else the best OrderPlaced gave
    (native v2 beats an upcast v1): read now, not a copy frozen at request time."""
    structured = shipment.get("structured_address")
    return dict(structured) if structured else repository.delivery_address(shipment["order_id"])


def best_delivery(repository: Fulfillment, shipment: Mapping[str, Any]) -> dict[str, Any] | None:
    delivery = shipment.get("delivery")
    return dict(delivery) if delivery else repository.delivery_preference(shipment["order_id"])


# -- the warehouse: picking list, pick, pack, confirm dispatch --------------------------------------


def picking_list(repository: Fulfillment, limit: int) -> list[dict[str, Any]]:
    """What to pick and pack, oldest request first."""
    return [{**shipment, "delivery_address": best_address(repository, shipment)} for shipment in repository.picking_list(limit)]


@dataclass(frozen=True)
class StepResult:
    shipment: dict[str, Any]
    changed: bool


def _warehouse_step(
    repository: Fulfillment,
    new_uow: NewUnitOfWork,
    order_id: str,
    step: Step,
    fields: Mapping[str, Any],
    remove: tuple[str, ...] = (),
    event: Callable[[dict[str, Any]], EventData] | None = None,
) -> StepResult:
    """Apply `step` with a conditional write; a repeat (the step is done) changes nothing; a step the
    status does not allow raises domain.TransitionRefused; a shipment moved meanwhile is read again."""
    for _ in range(3):
        shipment = repository.shipment(order_id)
        if shipment is None:
            raise ShipmentNotFound(order_id)
        if domain.step_outcome(step, shipment["status"]) == "done":
            return StepResult(shipment, changed=False)
        uow = new_uow()
        uow.move_shipment(order_id, step.from_statuses, step.to_status, fields, remove)
        if event is not None:
            uow.add_event(new_event(event(shipment), producer=SOURCE, correlation_id=order_id))
        try:
            uow.commit()
        except StatusChanged:
            continue
        moved = repository.shipment(order_id)
        assert moved is not None
        return StepResult(moved, changed=True)
    raise domain.TransitionRefused("the shipment kept changing while this step was applied; try again")


def mark_picked(repository: Fulfillment, new_uow: NewUnitOfWork, order_id: str, staff: str, now: datetime) -> StepResult:
    return _warehouse_step(repository, new_uow, order_id, domain.PICK, {"picked_at": now.isoformat(), "picked_by": staff})


def mark_packed(
    repository: Fulfillment, new_uow: NewUnitOfWork, order_id: str, staff: str, handoff: Handoff, now: datetime
) -> StepResult:
    """Packed: off the picking list, ShipmentPacked published (instruct-logistics or carrier-list take it from there)."""

    def packed(shipment: dict[str, Any]) -> ShipmentPackedV1:
        return ShipmentPackedV1(
            shipment_id=shipment["shipment_id"],
            order_id=order_id,
            lines=_lines(shipment["lines"]),
            packed_by=staff,
            handoff=handoff,
        )

    fields = {"packed_at": now.isoformat(), "packed_by": staff, "handoff": handoff}
    return _warehouse_step(repository, new_uow, order_id, domain.PACK, fields, remove=("gsi1pk", "gsi1sk"), event=packed)


def confirm_dispatch(
    repository: Fulfillment, new_uow: NewUnitOfWork, order_id: str, carrier: str, tracking_number: str, now: datetime
) -> StepResult:
    """Staff confirm that the carrier took a parcel listed in the carrier CSV: ShipmentDispatched with its tracking number."""
    shipment = repository.shipment(order_id)
    if shipment is None:
        raise ShipmentNotFound(order_id)
    if shipment.get("handoff") != "carrier_csv" and shipment["status"] == PACKED:
        raise domain.TransitionRefused("the logistics service dispatches this parcel; its tracking notification confirms it")
    code = domain.carrier_code(carrier)
    url = domain.tracking_url(code, tracking_number)

    def dispatched(current: dict[str, Any]) -> ShipmentDispatchedV1:
        return _dispatched_event(current, code, tracking_number, url)

    fields = {"carrier": code, "tracking_number": tracking_number, "tracking_url": url, "dispatched_at": now.isoformat()}
    return _warehouse_step(repository, new_uow, order_id, domain.CONFIRM_DISPATCH, fields, event=dispatched)


def _dispatched_event(shipment: Mapping[str, Any], carrier: str, tracking_number: str, url: str | None) -> ShipmentDispatchedV1:
    return ShipmentDispatchedV1(
        shipment_id=shipment["shipment_id"],
        order_id=shipment["order_id"],
        carrier=carrier,
        tracking_number=tracking_number,
        tracking_url=url,
        customer_email=shipment.get("customer_email") or "",
        customer_id=shipment.get("customer_id"),
        locale=shipment.get("locale"),
    )


# -- the hand-off: the 3PL's shipping instruction, or the day's carrier CSV --------------------------


def instruct_logistics(
    event: DomainEvent, subscriber: str, repository: Fulfillment, new_uow: NewUnitOfWork, logistics: LogisticsService
) -> None:
    """On ShipmentPacked (handoff logistics_service): send the shipping instruction, identified by the
    shipment id, so a repeat after a crash or a timeout names the 3PL's same shipment; then
    INSTRUCTED and ShipmentInstructed. The 3PL unavailable or rate-limiting raises
    (chalicelib.logistics.LogisticsUnavailable): SQS delivers the event again after its visibility timeout."""
    packed = event.data
    assert isinstance(packed, ShipmentPackedV1)
    shipment = repository.shipment(packed.order_id)
    if (packed.handoff or DEFAULT_HANDOFF) != "logistics_service" or shipment is None or shipment["status"] != PACKED:
        # The carrier CSV's parcel, or one instructed or cancelled already: nothing to send.
        _note_seen(new_uow, subscriber, event)
        return
    try:
        instruction = shipping_instruction(repository, shipment)
        created = logistics.create_shipment(instruction)
    except InstructionRefused as refused:
        log.error("the 3PL refused the shipping instruction; staff must correct it", extra={"order_id": packed.order_id})
        uow = new_uow()
        uow.mark_processed(subscriber, event)
        uow.note_on_shipment(packed.order_id, {"instruction_error": str(refused)}, in_statuses=(PACKED,))
        uow.commit()
        return
    delivery = best_delivery(repository, shipment)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    carrier = domain.carrier_code(created.carrier)
    uow.move_shipment(
        packed.order_id,
        (PACKED,),
        INSTRUCTED,
        {
            "logistics_shipment_id": created.logistics_id,
            "carrier": carrier,
            "instructed_at": event.metadata.occurred_at.isoformat(),
        },
    )
    uow.add_event(
        event.caused(
            ShipmentInstructedV1(
                shipment_id=shipment["shipment_id"],
                order_id=packed.order_id,
                logistics_shipment_id=created.logistics_id,
                carrier=carrier,
                delivery=DeliveryPreference.model_validate(delivery) if delivery else None,
            ),
            producer=SOURCE,
        )
    )
    try:
        uow.commit()
    except StatusChanged:
        # Cancelled while the instruction was on its way: the 3PL must not ship it either.
        if (current := repository.shipment(packed.order_id)) and current["status"] == CANCELLED:
            logistics.cancel_shipment(created.logistics_id)
        _note_seen(new_uow, subscriber, event)


class AddressIncomplete(InstructionRefused):
    """The shipment has no structured address with what the 3PL requires."""


def shipping_instruction(repository: Fulfillment, shipment: Mapping[str, Any]) -> ShippingInstruction:
    address = best_address(repository, shipment) or {}
    missing = [name for name in ("recipient", "postal_code", "region", "line1", "phone") if not address.get(name)]
    if missing:
        raise AddressIncomplete(f"the delivery address lacks {', '.join(missing)}, which the 3PL requires")
    delivery = best_delivery(repository, shipment) or {}
    line1 = " ".join(part for part in (address.get("city"), address["line1"]) if part)
    return ShippingInstruction(
        identifier=shipment["shipment_id"],
        order_no=shipment["order_id"],
        recipient=Recipient(
            name=address["recipient"],
            postcode=address["postal_code"],
            prefecture=address["region"],
            address1=line1,
            address2=address.get("line2"),
            phone=address["phone"],
        ),
        items=tuple((line["sku"], line["quantity"]) for line in shipment["lines"]),
        delivery_date=delivery.get("date"),
        time_slot=delivery.get("time_slot"),
    )


def list_for_carrier(
    event: DomainEvent,
    subscriber: str,
    repository: Fulfillment,
    new_uow: NewUnitOfWork,
    carrier_lists: CarrierLists,
    shipper: Shipper,
) -> None:
    """On ShipmentPacked (handoff carrier_csv): list the parcel for its shipping day, then rebuild that
    day's whole B2 file from the table and replace it in S3. The listing is a conditional write of its
    own, the file is rebuilt from the table rather than appended to, and the marker is written last:
    a redelivery (even after a failed upload) lists nothing twice and writes the same file again."""
    packed = event.data
    assert isinstance(packed, ShipmentPackedV1)
    if packed.handoff != "carrier_csv":
        _note_seen(new_uow, subscriber, event)
        return
    shipment = repository.shipment(packed.order_id)
    if shipment is None:
        _note_seen(new_uow, subscriber, event)
        return
    day = shipment.get("carrier_list_day") or domain.shipping_day(event.metadata.occurred_at).isoformat()
    if not shipment.get("carrier_list_day"):
        listing = new_uow()
        listing.note_on_shipment(
            packed.order_id,
            {
                "carrier_list_day": day,
                "gsi1pk": f"CARRIERLIST#{day}",
                "gsi1sk": f"{event.metadata.occurred_at.isoformat()}#{packed.order_id}",
            },
            in_statuses=(PACKED,),
        )
        # Cancelled or dispatched meanwhile: it is not listed; the day's file is still rebuilt.
        with contextlib.suppress(StatusChanged):
            listing.commit()
    write_carrier_list(repository, carrier_lists, shipper, day)
    done = new_uow()
    done.mark_processed(subscriber, event)
    done.commit()


# Rebuilds racing for one day settle within a few rounds; more means the table keeps changing under us.
_CARRIER_LIST_ROUNDS = 5


def write_carrier_list(repository: Fulfillment, carrier_lists: CarrierLists, shipper: Shipper, day: str) -> str:
    """The day's B2 file, one row per parcel still going (a cancelled one is left out), rebuilt from the table.

    Two rebuilds of one day can race (two batches, two pollers): one that read the table before the other's
    parcel was listed may write last. So each writer reads the day again after writing and rewrites while what
    it wrote is not what the table holds: whoever writes last checks last, and the file ends complete."""
    written: list[dict[str, Any]] | None = None
    for _ in range(_CARRIER_LIST_ROUNDS):
        parcels = [s for s in repository.carrier_list(day) if s["status"] != CANCELLED]
        if written is not None and _ids(parcels) == _ids(written):
            return carrier_list_key_for(day)
        rows = [
            domain.b2_row(
                {**s, "delivery_address": best_address(repository, s), "delivery": best_delivery(repository, s)},
                shipper,
                datetime.fromisoformat(day).date(),
            )
            for s in parcels
        ]
        carrier_lists.write(day, domain.b2_csv(rows))
        written = parcels
    raise RuntimeError(f"the carrier list of {day} kept changing while it was written; the retry writes it again")


def _ids(shipments: list[dict[str, Any]]) -> list[str]:
    return sorted(s["shipment_id"] for s in shipments)


# -- the 3PL's tracking notifications ----------------------------------------------------------------


@dataclass(frozen=True)
class TrackingNotification:
    """What the 3PL's signed webhook says: its shipment `logistics_id`, ours (`identifier`, `order_no`),
    the status it reached, and the carrier and tracking code once shipped."""

    logistics_id: str
    identifier: str
    order_no: str
    status: Literal["waiting", "picking", "packed", "shipped", "delivered"]
    carrier: str | None
    tracking_code: str | None


TrackingOutcome = Literal["applied", "ignored"]


def tracking_notified(
    repository: Fulfillment, new_uow: NewUnitOfWork, notified: TrackingNotification, now: datetime
) -> TrackingOutcome:
    """Record a tracking status later than the one recorded; a duplicate or an out-of-order notification
    (shipped after delivered) changes nothing. shipped → DISPATCHED and ShipmentDispatched; delivered →
    DELIVERED and ShipmentDelivered (and ShipmentDispatched first if shipped was never heard of)."""
    shipment = repository.shipment(notified.order_no)
    if shipment is None or shipment["shipment_id"] != notified.identifier:
        raise ShipmentNotFound(notified.order_no)
    if shipment.get("logistics_shipment_id") not in (None, notified.logistics_id):
        raise ShipmentNotFound(f"{notified.order_no} is not the 3PL's shipment {notified.logistics_id}")
    if not domain.tracking_applies(shipment.get("logistics_status"), notified.status) or shipment["status"] == CANCELLED:
        return "ignored"
    carrier = domain.carrier_code(notified.carrier or shipment.get("carrier") or "")
    tracking_number = notified.tracking_code or shipment.get("tracking_number")
    uow = new_uow()
    fields: dict[str, Any] = {}
    if notified.status in ("shipped", "delivered"):
        if not tracking_number or not carrier:
            raise ValueError(f"a {notified.status} notification must carry the carrier and tracking code")
        url = domain.tracking_url(carrier, tracking_number)
        fields = {"carrier": carrier, "tracking_number": tracking_number, "tracking_url": url}
        if shipment["status"] not in (DISPATCHED, DELIVERED):
            fields["status"] = DISPATCHED
            fields["dispatched_at"] = now.isoformat()
            uow.add_event(
                new_event(
                    _dispatched_event(shipment, carrier, tracking_number, url), producer=SOURCE, correlation_id=notified.order_no
                )
            )
        if notified.status == "delivered":
            fields["status"] = DELIVERED
            fields["delivered_at"] = now.isoformat()
            delivered = ShipmentDeliveredV1(
                shipment_id=shipment["shipment_id"],
                order_id=notified.order_no,
                carrier=carrier,
                tracking_number=tracking_number,
                customer_email=shipment.get("customer_email") or "",
                customer_id=shipment.get("customer_id"),
                locale=shipment.get("locale"),
            )
            uow.add_event(new_event(delivered, producer=SOURCE, correlation_id=notified.order_no))
    uow.record_tracking(notified.order_no, notified.status, domain.tracking_rank(notified.status), fields)
    try:
        uow.commit()
    except TrackingNotNewer:
        return "ignored"  # the same or a later status was recorded at the same time
    return "applied"


# -- cancellation -----------------------------------------------------------------------------------


def cancel_shipment(
    event: DomainEvent, subscriber: str, repository: Fulfillment, new_uow: NewUnitOfWork, logistics: LogisticsService
) -> None:
    """On OrderCancelled: see domain.cancellation_plan. A refusal (the 3PL has packed or shipped, or the
    parcel is dispatched) is recorded on the shipment and logged, and nothing is published: the order
    goes on to the customer, and orders (which accepted the cancellation) hears of it through
    ShipmentDispatched. The 3PL unavailable raises: SQS delivers the event again."""
    cancelled = event.data
    assert isinstance(cancelled, OrderCancelledV1)
    order_id = cancelled.order_id
    at = event.metadata.occurred_at.isoformat()
    shipment = repository.shipment(order_id)
    ships_nothing = not any(line.kind == "physical" for line in cancelled.lines)
    if shipment is None and (ships_nothing or repository.cancelled_before_payment(order_id)):
        # A digital-only order never gets a shipment: no tombstone needed to stop one.
        _note_seen(new_uow, subscriber, event)
        return
    plan = domain.cancellation_plan(shipment["status"] if shipment else None)
    uow = new_uow()
    uow.mark_processed(subscriber, event)
    if plan == "tombstone":
        uow.add_tombstone(order_id, at, cancelled.cancelled_by)
    elif plan == "already_cancelled":
        pass
    elif plan == "too_late" and shipment:
        _refused(uow, shipment, f"the parcel is {shipment['status'].lower()}; it can no longer be cancelled", at)
    elif shipment:
        if plan == "cancel_at_logistics":
            try:
                logistics.cancel_shipment(shipment["logistics_shipment_id"])
            except CancelRefused as refused:
                _refused(
                    uow, shipment, f"the logistics service refused: its shipment is {refused.status or 'beyond cancelling'}", at
                )
                uow.commit()
                return
        uow.move_shipment(
            order_id,
            NOT_YET_INSTRUCTED if plan == "cancel_locally" else (INSTRUCTED,),
            CANCELLED,
            {"cancelled_at": at, "cancelled_by": cancelled.cancelled_by},
            remove=("gsi1pk", "gsi1sk") if plan == "cancel_locally" else (),
        )
        uow.add_event(
            event.caused(
                ShipmentCancelledV1(shipment_id=shipment["shipment_id"], order_id=order_id, lines=_lines(shipment["lines"])),
                producer=SOURCE,
            )
        )
    # A shipment that moved meanwhile (requested, packed, instructed) raises: SQS redelivers, and the plan
    # is made again from its new status.
    try:
        uow.commit()
    except ShipmentAlreadyRequested:
        raise StatusChanged([("tombstone", "the shipment was requested meanwhile")]) from None


def _refused(uow: FulfillmentWork, shipment: Mapping[str, Any], reason: str, at: str) -> None:
    log.warning("cancellation refused: %s", reason, extra={"order_id": shipment["order_id"]})
    uow.note_on_shipment(
        shipment["order_id"],
        {"cancel_refused_at": at, "cancel_refused_reason": reason},
        in_statuses=(shipment["status"],),
    )


def _note_seen(new_uow: NewUnitOfWork, subscriber: str, event: DomainEvent) -> None:
    """The event's effect is already in the table (or it has none): remember it was handled, change nothing else."""
    seen = new_uow()
    seen.mark_processed(subscriber, event)
    seen.commit()

"""'The show starts soon', without any I/O: the ticket holders, their orders' addresses and the show's
announcement meet in any arrival order and each holder is mailed once; revoked holders, started shows
and stale announcements are mailed nothing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.emails import Email
from chalicelib.once import SendKey
from chalicelib.reminders import (
    Announcement,
    Contact,
    SomeRemindersFailed,
    TicketHolder,
    on_announced,
    on_entitlement,
    on_payment_captured,
)
from shop_contracts.events import (
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    LiveShowStartingSoonV1,
    Money,
    OrderLine,
    PaymentCapturedV1,
    VideoAccess,
)
from shop_eventing.envelope import DomainEvent, new_event

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STARTS = NOW + timedelta(minutes=30)
SHOW = "show-1"


@dataclass
class InMemoryRoster:
    contacts: dict[str, Contact] = field(default_factory=dict)
    tickets: dict[tuple[str, str, str], TicketHolder] = field(default_factory=dict)
    announcements: dict[str, Announcement] = field(default_factory=dict)

    def keep_contact(self, contact: Contact) -> None:
        self.contacts[contact.order_id] = contact

    def contact(self, order_id: str) -> Contact | None:
        return self.contacts.get(order_id)

    def keep_holder(self, holder: TicketHolder) -> None:
        key = (holder.live_show_id, holder.order_id, holder.sku)
        if holder.status == "revoked" or key not in self.tickets:
            self.tickets[key] = holder

    def holder(self, live_show_id: str, order_id: str, sku: str) -> TicketHolder | None:
        return self.tickets.get((live_show_id, order_id, sku))

    def holders(self, live_show_id: str) -> list[TicketHolder]:
        return [h for (show, _, _), h in self.tickets.items() if show == live_show_id]

    def keep_announcement(self, announcement: Announcement) -> bool:
        kept = self.announcements.get(announcement.live_show_id)
        if kept and (kept.occurred_at, kept.event_id) > (announcement.occurred_at, announcement.event_id):
            return False
        self.announcements[announcement.live_show_id] = announcement
        return True

    def announcement(self, live_show_id: str) -> Announcement | None:
        return self.announcements.get(live_show_id)


@dataclass
class Outbox:
    """The send port as send_once gives it: one e-mail per key, whoever asks how often."""

    sent: dict[SendKey, Email] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def __call__(self, email: Email, key: SendKey) -> None:
        if email.to in self.failing:
            raise ConnectionError(f"SES refused {email.to}")
        self.sent.setdefault(key, email)


def paid(order_id: str, email: str, *skus: str, locale: str | None = "en") -> DomainEvent:
    lines = [
        OrderLine(
            sku=sku,
            name="Live in Tokyo",
            kind="digital",
            quantity=1,
            unit_price=Money(amount=3000, currency="JPY"),
            access=VideoAccess(product_type="live_ticket", live_show_id=SHOW),
        )
        for sku in skus
    ]
    data = PaymentCapturedV1(
        order_id=order_id,
        payment_id="pi_1",
        amount=Money(amount=3000 * len(skus), currency="JPY"),
        customer_email=email,
        lines=lines,
        locale=locale,  # type: ignore[arg-type]
    )
    return new_event(data, producer="shop.orders", correlation_id=order_id, now=NOW)


def entitlement(order_id: str, sku: str = "LIVE-1", *, revoked: bool = False, product_type: str = "live_ticket") -> DomainEvent:
    common = {
        "entitlement_id": f"ent-{order_id}-{sku}",
        "customer_id": "sub",
        "order_id": order_id,
        "sku": sku,
        "product_type": product_type,
        "live_show_id": SHOW if product_type == "live_ticket" else None,
        "video_id": None if product_type == "live_ticket" else "vid-1",
    }
    data = (
        EntitlementRevokedV1(**common, reason="order_cancelled", revoked_at=NOW.isoformat())
        if revoked
        else EntitlementGrantedV1(**common, granted_at=NOW.isoformat())
    )
    return new_event(data, producer="shop.vod", correlation_id=order_id, now=NOW)


def announcement(*, starts: datetime = STARTS, at: datetime = NOW, title: str = "Live in Tokyo") -> DomainEvent:
    data = LiveShowStartingSoonV1(
        live_show_id=SHOW, title=title, starts_at=starts.isoformat(), watch_url="https://shop.example/live/1"
    )
    return new_event(data, producer="shop.vod", correlation_id=SHOW, now=at)


def handle(event: DomainEvent, roster: InMemoryRoster, outbox: Outbox, now: datetime = NOW) -> int:
    data = event.data
    if isinstance(data, PaymentCapturedV1):
        return on_payment_captured(data, roster, outbox, now)
    if isinstance(data, EntitlementGrantedV1 | EntitlementRevokedV1):
        return on_entitlement(data, roster, outbox, now)
    return on_announced(event, roster, outbox, now)


def mailed(outbox: Outbox) -> list[tuple[str, str]]:
    return sorted((key.event_id, key.recipient) for key in outbox.sent)


def test_a_holder_is_mailed_once_whichever_of_payment_grant_and_announcement_arrives_last():
    events = [paid("ord-1", "ann@example.com", "LIVE-1"), entitlement("ord-1"), announcement()]
    for arrival in itertools.permutations(events):
        roster, outbox = InMemoryRoster(), Outbox()
        for event in arrival:
            handle(event, roster, outbox)
        for event in arrival:  # every one delivered again: nothing more
            handle(event, roster, outbox)

        assert mailed(outbox) == [(events[2].event_id, "ann@example.com")], [e.event_type for e in arrival]
        [email] = outbox.sent.values()
        assert (email.subject, email.locale) == ('"Live in Tokyo" starts soon', "en")


def test_every_holder_gets_one_mail_and_two_tickets_to_one_address_one_mail():
    roster, outbox = InMemoryRoster(), Outbox()
    for order_id, email, skus in (("ord-1", "ann@example.com", ("LIVE-1", "LIVE-2")), ("ord-2", "bob@example.com", ("LIVE-1",))):
        handle(paid(order_id, email, *skus, locale=None), roster, outbox)
        for sku in skus:
            handle(entitlement(order_id, sku), roster, outbox)
    handle(paid("ord-3", "ann@example.com", "LIVE-1"), roster, outbox)
    handle(entitlement("ord-3"), roster, outbox)
    soon = announcement()

    assert handle(soon, roster, outbox) == 4  # four tickets due a mail, three addresses... two people
    assert mailed(outbox) == [(soon.event_id, "ann@example.com"), (soon.event_id, "bob@example.com")]
    assert {email.locale for email in outbox.sent.values()} <= {"ja", "en"}


def test_a_revoked_holder_is_mailed_nothing_even_when_the_grant_arrives_after_the_revocation():
    roster, outbox = InMemoryRoster(), Outbox()
    handle(paid("ord-1", "ann@example.com", "LIVE-1"), roster, outbox)
    handle(entitlement("ord-1", revoked=True), roster, outbox)
    handle(entitlement("ord-1"), roster, outbox)  # late: revoked stays

    assert handle(announcement(), roster, outbox) == 0
    assert outbox.sent == {}
    assert roster.holder(SHOW, "ord-1", "LIVE-1") == TicketHolder(SHOW, "ord-1", "LIVE-1", "revoked")


def test_a_ticket_granted_after_the_announcement_is_mailed_until_the_show_starts():
    roster, outbox = InMemoryRoster(), Outbox()
    soon = announcement()
    handle(soon, roster, outbox)
    handle(paid("ord-1", "ann@example.com", "LIVE-1"), roster, outbox)
    handle(paid("ord-2", "bob@example.com", "LIVE-1"), roster, outbox)

    assert handle(entitlement("ord-1"), roster, outbox, now=STARTS - timedelta(seconds=1)) == 1
    assert handle(entitlement("ord-2"), roster, outbox, now=STARTS) == 0  # the show has started: too late

    assert mailed(outbox) == [(soon.event_id, "ann@example.com")]


def test_an_announcement_of_a_started_show_or_older_than_the_one_kept_mails_nobody():
    roster, outbox = InMemoryRoster(), Outbox()
    handle(paid("ord-1", "ann@example.com", "LIVE-1"), roster, outbox)
    handle(entitlement("ord-1"), roster, outbox)

    assert handle(announcement(starts=NOW - timedelta(minutes=1)), roster, outbox) == 0
    newer = announcement(at=NOW + timedelta(minutes=2), title="Live in Tokyo (moved)", starts=STARTS + timedelta(hours=1))
    older = announcement(at=NOW + timedelta(minutes=1))
    assert handle(newer, roster, outbox) == 1
    assert handle(older, roster, outbox) == 0  # delivered late: the show was rescheduled since

    assert mailed(outbox) == [(newer.event_id, "ann@example.com")]


def test_videos_and_orders_without_tickets_are_not_kept():
    roster, outbox = InMemoryRoster(), Outbox()
    ticket_order = paid("ord-1", "ann@example.com", "LIVE-1").data
    assert isinstance(ticket_order, PaymentCapturedV1)
    line = ticket_order.lines[0].model_copy(update={"access": VideoAccess(product_type="video_rental", video_id="vid-1")})
    rental = ticket_order.model_copy(update={"lines": [line]})

    assert on_payment_captured(rental, roster, outbox, NOW) == 0
    assert handle(entitlement("ord-1", product_type="video_rental"), roster, outbox) == 0
    assert (roster.contacts, roster.tickets) == ({}, {})


def test_one_failing_address_does_not_keep_the_others_from_their_mail_and_the_event_comes_back():
    roster, outbox = InMemoryRoster(), Outbox(failing={"bad@example.com"})
    for order_id, email in (("ord-1", "bad@example.com"), ("ord-2", "bob@example.com")):
        handle(paid(order_id, email, "LIVE-1"), roster, outbox)
        handle(entitlement(order_id), roster, outbox)
    soon = announcement()

    with pytest.raises(SomeRemindersFailed, match="1 of 2"):
        handle(soon, roster, outbox)

    assert mailed(outbox) == [(soon.event_id, "bob@example.com")]

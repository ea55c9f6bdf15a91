"""'The show starts soon' to every ticket holder, free of I/O: who holds a ticket, how to reach them, and
when an announcement is still worth a mail.

Three facts meet here, each from its own event and in any arrival order (the `show-reminders` queue is
not FIFO, and the three events come from two producers):
- the **ticket holder**: vod's EntitlementGranted for a `live_ticket` (the show, the order, the line),
  and EntitlementRevoked, which removes it for good (a revocation wins over a grant arriving after it);
- the **contact**: the e-mail address and locale of the order that bought the ticket, from orders'
  PaymentCaptured (the entitlement names the customer's sub, never an address);
- the **announcement**: vod's LiveShowStartingSoon, the newest kept per show.

Each handler records its own fact first, then reads the other two and mails whoever is complete. Because
every handler writes before it reads (consistent reads), the last of the three facts to be recorded
sees the other two, so a holder is mailed whichever arrives last: a ticket granted after the
announcement still gets the mail, as long as the show has not started (`starts_at` is in the future).
The mail is one per (announcement event_id, address), through notify's at-most-once send (once.py):
several handlers finding the same holder complete, or one customer holding two tickets, mail once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from chalicelib.emails import Email, show_reminder
from chalicelib.once import SendKey
from shop_contracts.events import (
    EntitlementGrantedV1,
    EntitlementRevokedV1,
    LiveShowStartingSoonV1,
    Locale,
    PaymentCapturedV1,
)
from shop_eventing.envelope import DomainEvent

LIVE_TICKET = "live_ticket"
HolderStatus = Literal["granted", "revoked"]


@dataclass(frozen=True)
class TicketHolder:
    live_show_id: str
    order_id: str
    sku: str
    status: HolderStatus


@dataclass(frozen=True)
class Contact:
    order_id: str
    customer_email: str
    locale: Locale | None


@dataclass(frozen=True)
class Announcement:
    live_show_id: str
    event_id: str
    occurred_at: str  # ISO-8601 UTC: the newest announcement of a show wins
    title: str
    starts_at: str
    watch_url: str | None

    def current(self, now: datetime) -> bool:
        """Worth a mail: the show has not started yet."""
        return now < datetime.fromisoformat(self.starts_at.replace("Z", "+00:00"))


class ShowRoster(Protocol):
    """notify's records of live shows (chalicelib.repository.DynamoShowRoster)."""

    def keep_contact(self, contact: Contact) -> None:
        """Store the order's address and locale (the same every time for one order)."""

    def contact(self, order_id: str) -> Contact | None: ...

    def keep_holder(self, holder: TicketHolder) -> None:
        """Store a grant unless the line is known (granted already, or revoked: revoked stays), or a revocation
        (always: it wins)."""

    def holder(self, live_show_id: str, order_id: str, sku: str) -> TicketHolder | None: ...

    def holders(self, live_show_id: str) -> list[TicketHolder]: ...

    def keep_announcement(self, announcement: Announcement) -> bool:
        """Store it unless a newer announcement of the show is kept; True if it is (now) the one kept."""

    def announcement(self, live_show_id: str) -> Announcement | None: ...


# Sends one e-mail once under its key (notify's send_once, with the app's records and mailer).
Send = Callable[[Email, SendKey], None]


class SomeRemindersFailed(Exception):
    """At least one ticket holder's mail could not be sent (or is being sent by another delivery): the
    event comes back, and the holders already mailed are skipped by their send records."""


def _remind(announcement: Announcement, contact: Contact, send: Send) -> None:
    email = show_reminder(
        to=contact.customer_email,
        locale=contact.locale,
        title=announcement.title,
        starts_at=announcement.starts_at,
        watch_url=announcement.watch_url,
    )
    send(email, SendKey(announcement.event_id, contact.customer_email))


def _remind_if_due(roster: ShowRoster, holder: TicketHolder, send: Send, now: datetime) -> bool:
    """Mail one holder if the show's announcement is current, the ticket still held and the order's
    address known; True if a mail was (or had been) sent."""
    announcement = roster.announcement(holder.live_show_id)
    if announcement is None or not announcement.current(now):
        return False
    kept = roster.holder(holder.live_show_id, holder.order_id, holder.sku)
    contact = roster.contact(holder.order_id)
    if kept is None or kept.status != "granted" or contact is None:
        return False
    _remind(announcement, contact, send)
    return True


def on_payment_captured(data: PaymentCapturedV1, roster: ShowRoster, send: Send, now: datetime) -> int:
    """Keep how to reach the buyer of an order with a live ticket (nothing for other orders), then mail the
    order's holders whose grant and announcement came first. Returns how many were due a mail."""
    tickets = [line for line in data.lines if line.access and line.access.product_type == LIVE_TICKET]
    if not tickets:
        return 0
    roster.keep_contact(Contact(data.order_id, data.customer_email, data.locale))
    due = 0
    for line in tickets:
        assert line.access is not None
        if line.access.live_show_id:
            holder = TicketHolder(line.access.live_show_id, data.order_id, line.sku, "granted")
            due += _remind_if_due(roster, holder, send, now)
    return due


def on_entitlement(data: EntitlementGrantedV1 | EntitlementRevokedV1, roster: ShowRoster, send: Send, now: datetime) -> int:
    """Keep a live ticket's holder (granted) or take them off for good (revoked); a grant is then mailed
    if its show's announcement came first. Other entitlements (videos) are not notify's business."""
    if data.product_type != LIVE_TICKET or not data.live_show_id:
        return 0
    granted = isinstance(data, EntitlementGrantedV1)
    holder = TicketHolder(data.live_show_id, data.order_id, data.sku, "granted" if granted else "revoked")
    roster.keep_holder(holder)
    return int(granted and _remind_if_due(roster, holder, send, now))


def on_announced(event: DomainEvent, roster: ShowRoster, send: Send, now: datetime) -> int:
    """Keep the show's announcement, then mail every current holder whose order's address is known. An
    announcement older than the one kept (a rescheduled show), or one whose show has started, mails
    nobody. Raises SomeRemindersFailed after trying every holder if any mail failed."""
    data = event.data
    assert isinstance(data, LiveShowStartingSoonV1)
    announcement = Announcement(
        live_show_id=data.live_show_id,
        event_id=event.event_id,
        occurred_at=event.metadata.occurred_at.isoformat(),
        title=data.title,
        starts_at=data.starts_at,
        watch_url=data.watch_url,
    )
    if not roster.keep_announcement(announcement) or not announcement.current(now):
        return 0
    return _mail_all(announcement, roster.holders(data.live_show_id), roster, send)


def _mail_all(announcement: Announcement, holders: Iterable[TicketHolder], roster: ShowRoster, send: Send) -> int:
    due, failures = 0, []
    for holder in holders:
        if holder.status != "granted":
            continue
        contact = roster.contact(holder.order_id)
        if contact is None:
            continue  # its PaymentCaptured is still on its way: that handler mails this holder
        due += 1
        try:
            _remind(announcement, contact, send)
        except Exception as error:  # one bad address or a throttled send must not keep the others waiting
            failures.append(error)
    if failures:
        raise SomeRemindersFailed(f"{len(failures)} of {due} reminders failed; first: {failures[0]!r}") from failures[0]
    return due

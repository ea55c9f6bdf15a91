"""Each e-mail at most once per (event, recipient), and, short of one crash window, exactly once.

SES has no idempotency key and no way to ask whether it sent a message, so the record of a send is
written around the call, in notify's table, keyed on the domain event's own `event_id` and the
recipient (a replay or a redrive carries the same `event_id`, never the same envelope):

1. render the e-mail (anything that can fail for good fails before a claim exists);
2. claim: a conditional put of a `sending` record with a lease; a delivery that finds a record
   does not send (a concurrent duplicate finds the claim and retries later, a repeat finds `sent`);
3. send through SES;
4. mark the record `sent` with SES's MessageId.

A send SES refused (an error answer, a connection never made) releases the claim: the retry sends.
The window left is between 2 and 4: a process that dies there (or whose mark fails, or whose SES call
times out after the request went out) leaves `sending`. Nobody can tell whether SES sent that e-mail,
so the choice is **at most once**: once the lease is over, the next delivery records `unconfirmed`
and sends nothing, and logs it for an operator (who can look the recipient up in SES's sending
events). The lease is the subscription's visibility timeout: the Lambda function's timeout is capped
at it, so no attempt outlives its claim by more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from chalicelib.emails import Email

Status = Literal["sending", "sent", "unconfirmed"]


@dataclass(frozen=True)
class SendKey:
    event_id: str
    recipient: str


@dataclass(frozen=True)
class SendRecord:
    status: Status
    claim: str
    lease_until_ms: int
    message_id: str | None = None


class SendOutcomeUnknown(Exception):
    """The provider may or may not have accepted the message: sending again could send it twice."""


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Send; return the provider's message id. Raise SendOutcomeUnknown when the provider may have
        accepted it although the call failed; any other exception means nothing was sent."""


class SendRecords(Protocol):
    def claim(self, key: SendKey, claim: str, now_ms: int, lease_until_ms: int, event_type: str) -> SendRecord | None:
        """Create a `sending` record if there is none; else return the one there is."""

    def mark_sent(self, key: SendKey, claim: str, message_id: str, now_ms: int) -> None:
        """`sending` under `claim` → `sent`."""

    def mark_unconfirmed(self, key: SendKey, claim: str, now_ms: int, reason: str) -> bool:
        """`sending` under `claim` → `unconfirmed`; False if the record is no longer that claim."""

    def release(self, key: SendKey, claim: str) -> None:
        """Delete the `sending` record of `claim` (nothing was sent)."""


class Outcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    UNCONFIRMED = "unconfirmed"  # this delivery found (or made) a send nobody can confirm
    ALREADY_UNCONFIRMED = "already_unconfirmed"


class SendInProgress(Exception):
    """Another delivery holds a live claim on this e-mail: retry after it has finished or expired."""


def send_once(
    email: Email,
    key: SendKey,
    *,
    event_type: str,
    records: SendRecords,
    mailer: Mailer,
    now_ms: int,
    lease_ms: int,
) -> tuple[Outcome, str | None]:
    """Send `email` unless a record for `key` says it was (or may have been) sent. Returns the outcome
    and SES's message id when this call sent it."""
    claim = uuid.uuid4().hex
    existing = records.claim(key, claim, now_ms, now_ms + lease_ms, event_type)
    if existing is not None:
        if existing.status == "sent":
            return Outcome.ALREADY_SENT, None
        if existing.status == "unconfirmed":
            return Outcome.ALREADY_UNCONFIRMED, None
        if existing.lease_until_ms > now_ms:
            raise SendInProgress(f"e-mail {key} is being sent by another delivery until {existing.lease_until_ms}")
        # The claimant died between its claim and its mark: SES may or may not have the e-mail.
        if records.mark_unconfirmed(key, existing.claim, now_ms, "the sending attempt died before recording its outcome"):
            return Outcome.UNCONFIRMED, None
        return Outcome.ALREADY_UNCONFIRMED, None
    try:
        message_id = mailer.send(email)
    except SendOutcomeUnknown as unknown:
        records.mark_unconfirmed(key, claim, now_ms, f"SES's answer was lost: {unknown}")
        return Outcome.UNCONFIRMED, None
    except Exception:
        records.release(key, claim)
        raise
    records.mark_sent(key, claim, message_id, now_ms)
    return Outcome.SENT, message_id

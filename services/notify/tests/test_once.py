"""Each e-mail at most once per (event, recipient), with the claim logic on an in-memory record store
and a recording mailer: no AWS. The store keeps the same conditions notify's table enforces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from chalicelib.emails import Email
from chalicelib.once import Outcome, SendInProgress, SendKey, SendOutcomeUnknown, SendRecord, send_once

LEASE = 30_000
KEY = SendKey("evt-1", "ada@example.com")
EMAIL = Email(to="ada@example.com", subject="s", text="t", html="<p>h</p>", locale="en")


@dataclass
class InMemoryRecords:
    records: dict[SendKey, SendRecord] = field(default_factory=dict)
    reasons: dict[SendKey, str] = field(default_factory=dict)

    def claim(self, key: SendKey, claim: str, now_ms: int, lease_until_ms: int, event_type: str) -> SendRecord | None:
        if key in self.records:
            return self.records[key]
        self.records[key] = SendRecord("sending", claim, lease_until_ms)
        return None

    def _is_claim(self, key: SendKey, claim: str) -> bool:
        record = self.records.get(key)
        return record is not None and record.claim == claim and record.status == "sending"

    def mark_sent(self, key: SendKey, claim: str, message_id: str, now_ms: int) -> None:
        assert self._is_claim(key, claim)
        self.records[key] = replace(self.records[key], status="sent", message_id=message_id)

    def mark_unconfirmed(self, key: SendKey, claim: str, now_ms: int, reason: str) -> bool:
        if not self._is_claim(key, claim):
            return False
        self.records[key] = replace(self.records[key], status="unconfirmed")
        self.reasons[key] = reason
        return True

    def release(self, key: SendKey, claim: str) -> None:
        if self._is_claim(key, claim):
            del self.records[key]


class CrashBeforeTheMark(InMemoryRecords):
    """The process 'dies' after SES accepted the mail and before the record says so."""

    def mark_sent(self, key: SendKey, claim: str, message_id: str, now_ms: int) -> None:
        raise SystemExit("crashed between SES and the record")


@dataclass
class RecordingMailer:
    sent: list[Email] = field(default_factory=list)
    fail_with: Exception | None = None

    def send(self, email: Email) -> str:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.sent.append(email)
        return f"ses-{len(self.sent)}"


def deliver(records, mailer, now_ms=1_000):
    return send_once(EMAIL, KEY, event_type="PaymentCaptured", records=records, mailer=mailer, now_ms=now_ms, lease_ms=LEASE)


def test_the_first_delivery_sends_and_records_the_message_id():
    records, mailer = InMemoryRecords(), RecordingMailer()

    assert deliver(records, mailer) == (Outcome.SENT, "ses-1")
    assert records.records[KEY].status == "sent"
    assert records.records[KEY].message_id == "ses-1"


def test_a_repeat_sends_nothing():
    records, mailer = InMemoryRecords(), RecordingMailer()
    deliver(records, mailer)

    assert deliver(records, mailer, now_ms=5_000_000) == (Outcome.ALREADY_SENT, None)
    assert len(mailer.sent) == 1


def test_another_recipient_of_the_same_event_gets_their_own_email():
    records, mailer = InMemoryRecords(), RecordingMailer()
    deliver(records, mailer)

    other = SendKey(KEY.event_id, "bob@example.com")
    outcome = send_once(EMAIL, other, event_type="X", records=records, mailer=mailer, now_ms=1, lease_ms=LEASE)

    assert outcome[0] is Outcome.SENT
    assert len(mailer.sent) == 2


def test_a_duplicate_arriving_while_the_first_is_sending_does_not_send_and_asks_to_be_retried():
    records, mailer = InMemoryRecords(), RecordingMailer()
    records.claim(KEY, "someone-else", 1_000, 1_000 + LEASE, "PaymentCaptured")

    with pytest.raises(SendInProgress):
        deliver(records, mailer, now_ms=2_000)
    assert mailer.sent == []


def test_a_send_ses_refused_releases_the_claim_and_the_retry_sends_once():
    records, mailer = InMemoryRecords(), RecordingMailer(fail_with=RuntimeError("MessageRejected"))

    with pytest.raises(RuntimeError):
        deliver(records, mailer)
    assert KEY not in records.records

    assert deliver(records, mailer)[0] is Outcome.SENT
    assert len(mailer.sent) == 1


def test_a_lost_answer_from_ses_is_recorded_unconfirmed_and_never_resent():
    records, mailer = InMemoryRecords(), RecordingMailer(fail_with=SendOutcomeUnknown("read timeout"))

    assert deliver(records, mailer) == (Outcome.UNCONFIRMED, None)
    assert records.records[KEY].status == "unconfirmed"
    assert "read timeout" in records.reasons[KEY]
    assert deliver(records, mailer, now_ms=10_000_000) == (Outcome.ALREADY_UNCONFIRMED, None)
    assert mailer.sent == []


def test_the_crash_window_between_ses_and_the_record_leaves_one_email_and_an_unconfirmed_record():
    """What remains of the window: the e-mail went out once, and the record cannot say so."""
    records, mailer = CrashBeforeTheMark(), RecordingMailer()

    with pytest.raises(SystemExit):
        deliver(records, mailer, now_ms=1_000)
    assert len(mailer.sent) == 1
    assert records.records[KEY].status == "sending"

    # The redelivery comes back before the lease is over: it must not send, nor decide yet.
    with pytest.raises(SendInProgress):
        deliver(records, mailer, now_ms=1_000 + LEASE - 1)

    # After the lease the attempt is certainly dead: at most once, so record it and send nothing.
    assert deliver(records, mailer, now_ms=1_000 + LEASE + 1) == (Outcome.UNCONFIRMED, None)
    assert records.records[KEY].status == "unconfirmed"
    assert "died" in records.reasons[KEY]
    assert deliver(records, mailer, now_ms=1_000 + 10 * LEASE) == (Outcome.ALREADY_UNCONFIRMED, None)
    assert len(mailer.sent) == 1

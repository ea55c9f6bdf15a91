"""State changes of the outside services vod drives (MediaConvert's jobs, IVS's channels), as EventBridge
hands them to one of vod's own queues through a rule on the default bus, where AWS puts them (the
embedded stack's ffmpeg adapter and fake IVS put the same shapes). Not domain events, so not a
`Subscriber`, but handled with the same manners: partial batch failures, and what no retry can fix
parked in the queue's DLQ with its reason (the `shop dlq show` column). Repeats are harmless because
every step they drive is a conditional write (a video from TRANSCODING at its attempt, a show from the
state the signal expects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from shop_eventing.consumer import DEAD_LETTER_REASON


class OutsideEvents[Parsed]:
    """One queue's handler. `parse(event, stage)` reads an EventBridge event into what `act` takes, or
    None for a state vod does not act on (or another stage's); it raises `invalid` (a ValueError) for
    what is not such an event at all. `act` may raise `invalid` too (e.g. a recording whose metadata is
    unreadable): that goes to the DLQ as well, while any other exception is retried by SQS."""

    def __init__(
        self,
        *,
        kind: str,
        stage: str,
        dlq_name: str,
        session: Any,
        logger: Logger,
        parse: Callable[[dict[str, Any], str], Parsed | None],
        act: Callable[[Parsed], str],
        describe: Callable[[Parsed], dict[str, Any]],
        invalid: type[ValueError],
    ) -> None:
        self._kind = kind
        self._stage = stage
        self._dlq_name = dlq_name
        self._dlq_url: str | None = None
        self._session = session
        self._log = logger
        self._parse = parse
        self._act = act
        self._describe = describe
        self._invalid = invalid

    def handle(self, sqs_event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        failures = []
        for record in sqs_event.get("Records", []):
            try:
                self._record(record)
            except Exception:
                self._log.exception(f"{self._kind} failed; it will be retried", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _record(self, record: dict[str, Any]) -> None:
        try:
            event = json.loads(record["body"])
            if not isinstance(event, dict):
                raise self._invalid("body is not a JSON object")
            parsed = self._parse(event, self._stage)
        except (ValueError, KeyError, TypeError) as invalid:
            self._dead_letter(record, str(invalid) or type(invalid).__name__)
            return
        if parsed is None:
            return
        try:
            result = self._act(parsed)
        except self._invalid as invalid:
            self._dead_letter(record, str(invalid))
            return
        self._log.info(f"{self._kind} handled", extra={**self._describe(parsed), "result": result})

    def _dead_letter(self, record: dict[str, Any], reason: str) -> None:
        self._log.error(f"invalid {self._kind} sent to the DLQ", extra={"reason": reason, "message_id": record.get("messageId")})
        sqs = self._session.client("sqs")
        if self._dlq_url is None:
            self._dlq_url = str(sqs.get_queue_url(QueueName=self._dlq_name)["QueueUrl"])
        sqs.send_message(
            QueueUrl=self._dlq_url,
            MessageBody=record["body"],
            MessageAttributes={
                DEAD_LETTER_REASON: {"DataType": "String", "StringValue": reason[:1000]},
                "shop-original-message-id": {"DataType": "String", "StringValue": str(record.get("messageId"))},
            },
        )

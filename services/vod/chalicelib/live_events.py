"""IVS's stream and recording state changes, as EventBridge hands them to vod's live-events queue (a
rule on the default bus, where IVS puts them; the embedded stack's fake IVS puts the same). Handled
with the manners of chalicelib.job_events: partial batch failures, and what no retry can fix parked in
the DLQ with its reason. Repeats are harmless: every step is a conditional write on the show."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.ivs import LiveSignal, NotALiveEvent, parse_live_event
from shop_eventing.consumer import DEAD_LETTER_REASON


class LiveEvents:
    def __init__(self, *, stage: str, dlq_name: str, session: Any, logger: Logger, handle: Callable[[LiveSignal], str]) -> None:
        self._stage = stage
        self._dlq_name = dlq_name
        self._dlq_url: str | None = None
        self._session = session
        self._log = logger
        self._handle = handle

    def handle(self, sqs_event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        failures = []
        for record in sqs_event.get("Records", []):
            try:
                self._record(record)
            except Exception:
                self._log.exception("live event failed; it will be retried", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _record(self, record: dict[str, Any]) -> None:
        try:
            event = json.loads(record["body"])
            if not isinstance(event, dict):
                raise NotALiveEvent("body is not a JSON object")
            signal = parse_live_event(event, self._stage)
        except (ValueError, KeyError, TypeError) as invalid:
            self._dead_letter(record, str(invalid) or type(invalid).__name__)
            return
        if signal is None:
            return  # a state vod does not act on, or another stage's channel
        try:
            result = self._handle(signal)
        except NotALiveEvent as invalid:  # e.g. a recording whose metadata file is unreadable
            self._dead_letter(record, str(invalid))
            return
        self._log.info(
            "live event handled",
            extra={
                "live_show_id": signal.live_show_id,
                "signal": signal.kind,
                "correlation_id": signal.live_show_id,
                "result": result,
            },
        )

    def _dead_letter(self, record: dict[str, Any], reason: str) -> None:
        self._log.error("invalid live event sent to the DLQ", extra={"reason": reason, "message_id": record.get("messageId")})
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

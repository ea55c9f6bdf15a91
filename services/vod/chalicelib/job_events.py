"""The transcoder's job state changes, as EventBridge hands them to vod's job-events queue: MediaConvert's
own on AWS, the ffmpeg adapter's (same shape) locally. Not domain events, so not a `Subscriber`, but
handled with the same manners: partial batch failures, and what no retry can fix parked in the DLQ
with its reason. Repeats are harmless: `usecases.finish_transcode` moves a video only from TRANSCODING
at the job's attempt."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.transcoder import JobOutcome, NotAJobEvent, parse_job_state_change
from shop_eventing.consumer import DEAD_LETTER_REASON


class JobEvents:
    def __init__(self, *, stage: str, dlq_name: str, session: Any, logger: Logger, finish: Callable[[JobOutcome], str]) -> None:
        self._stage = stage
        self._dlq_name = dlq_name
        self._dlq_url: str | None = None
        self._session = session
        self._log = logger
        self._finish = finish

    def handle(self, sqs_event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        failures = []
        for record in sqs_event.get("Records", []):
            try:
                self._record(record)
            except Exception:
                self._log.exception("job event failed; it will be retried", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _record(self, record: dict[str, Any]) -> None:
        try:
            event = json.loads(record["body"])
            if not isinstance(event, dict):
                raise NotAJobEvent("body is not a JSON object")
            outcome = parse_job_state_change(event, self._stage)
        except (ValueError, KeyError, TypeError) as invalid:
            self._dead_letter(record, str(invalid) or type(invalid).__name__)
            return
        if outcome is None:
            return  # an intermediate state, or another stage's job
        result = self._finish(outcome)
        self._log.info(
            "job state change handled", extra={"video_id": outcome.video_id, "job_id": outcome.job_id, "result": result}
        )

    def _dead_letter(self, record: dict[str, Any], reason: str) -> None:
        self._log.error("invalid job event sent to the DLQ", extra={"reason": reason, "message_id": record.get("messageId")})
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

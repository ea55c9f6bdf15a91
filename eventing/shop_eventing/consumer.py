"""Idempotent subscribers: SQS batch in, `batchItemFailures` out.

Per record: the body (an EventBridge event) is parsed against the registered contract. A record that
can never be processed (malformed JSON, not an EventBridge event, unknown type or version, data that
breaks the contract, an envelope that contradicts its detail) is sent to the subscription's DLQ at
once with its reason as a message attribute, and counts as handled so the rest of the batch goes on.

The envelope must agree with the detail it carries, because the rules route on the envelope while the
handler acts on the detail: a `detail-type` other than `detail.metadata.event_type` would have the
record routed as one event and handled as another, and a `source` other than the event type's
producer would let anyone who can send to the queue speak for that producer. The producer is the
topology's when the Subscriber is given one, else the one the detail names (`metadata.producer`),
which the relay always sets equal to the `source` it publishes under. Both fields are checked when
the envelope carries them, which EventBridge always does; a body without them (sent by hand) is
judged by its detail alone. A record whose handler raises is
reported in `batchItemFailures`: SQS delivers it again after the visibility timeout, and moves it
to the DLQ after `max_receive_count` receives.

Exactly-once effects rest on two locks keyed on (subscriber, metadata.event_id), never on the SQS
messageId or the EventBridge id, which change when an event is replayed or redriven:
1. powertools idempotency (stable `key_prefix` = the subscriber id) short-circuits a repeat;
2. the handler's own transaction includes a processed-marker (`UnitOfWork.mark_processed`), which
   still holds if the process died after committing but before powertools saved the result.
A subscriber whose every handler has no effect outside that transaction (`deduplicated_by_marker`)
skips the first: the marker alone makes a repeat change nothing, and powertools' record would only
cost two more writes per message (decision 0012). One with an effect elsewhere (an e-mail, a charge)
keeps it.

Each invocation writes one metrics line per subscriber (shop_eventing.metrics): EventsHandled (the
handler applied it), DuplicatesSkipped (the processed-marker or powertools' record said it was applied
before), EventsFailed (the handler raised: retried, and dead-lettered by SQS after `max_receive_count`)
and EventsDeadLettered (sent to the DLQ here, never handled).

What operators see (`shop dlq show`, `shop reconcile`, `shop trace`): a record dead-lettered here
carries its reason as a message attribute; a record whose handler raised gets a failure record in the
service's own table (`failure_record_key`: the exception and the receive count of its last failure),
because SQS moves it to the DLQ later without saying why. A subscriber whose handlers guard their effects
with records of their own rather than the processed-marker (`marks_after_handler`, notify's) gets the
marker written after the handler returned, so every subscriber's handled events can be told apart from
the missed ones in the same way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger

from shop_eventing.envelope import DomainEvent, EventRegistry, InvalidEvent
from shop_eventing.metrics import Tally
from shop_eventing.outbox import ITEM_TYPE, PROCESSED_ITEM_TYPE, AlreadyProcessed, processed_marker_key, to_dynamodb
from shop_eventing.topology import Naming, ServiceSpec, Subscription, Topology, subscriber_id

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

Handler = Callable[[DomainEvent, str], None]
"""A use case entry: (the event, the subscriber id to mark it processed under)."""

DEAD_LETTER_REASON = "shop-dead-letter-reason"
# De-duplication must outlive any replay window we support (replays re-send old events).
IDEMPOTENCY_RETENTION_SECONDS = 30 * 24 * 3600
FAILURE_ITEM_TYPE = "failure"
# As long as SQS may keep the message it explains (the longest retention a queue can have).
FAILURE_RETENTION = timedelta(days=14)
MAX_REASON_CHARS = 1000

# The Lambda context of the invocation a handler runs in, per thread (locally several subscribers share
# a process): a handler that guards an effect with a lease of its own bounds it by the time its
# invocation has left (`time_left_ms`).
_invocation = threading.local()


def time_left_ms() -> int | None:
    """The remaining time of the invocation whose handler is running on this thread, in milliseconds;
    None outside a subscriber's handler or without a Lambda context (a test calling it directly)."""
    context = getattr(_invocation, "context", None)
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return int(context.get_remaining_time_in_millis())


HANDLED, DUPLICATES, FAILED, DEAD_LETTERED = "EventsHandled", "DuplicatesSkipped", "EventsFailed", "EventsDeadLettered"


def failure_record_key(subscriber: str, event_id: str) -> dict[str, str]:
    """Where a subscriber's last handler failure on an event is kept, in the subscriber's own table."""
    return {"pk": f"FAILURE#{subscriber}", "sk": event_id}


class Subscriber:
    def __init__(
        self,
        *,
        service: ServiceSpec,
        subscription: str,
        registry: EventRegistry,
        naming: Naming,
        handlers: Mapping[str, Handler],
        read_as: Mapping[str, int] | None = None,
        logger: Logger | None = None,
        session: boto3.Session | None = None,
        topology: Topology | None = None,
        deduplicated_by_marker: bool = False,
        marks_after_handler: bool = False,
    ) -> None:
        """`read_as` maps an event type to the major its handler reads; older majors the
        subscription accepts are upcast to it first (the registry's upcasters), so one handler
        serves a consumer that listens to both majors during a migration.

        With `topology`, an envelope's `source` must be the source of the service the topology names
        as the event type's producer; without it, the producer the event names in its metadata.

        `deduplicated_by_marker=True` declares that every handler commits all its effects in one
        transaction with the processed-marker (or raises): no powertools idempotency record then.

        `marks_after_handler=True` is for handlers that guard their effects with their own records and
        write no processed-marker (notify's, decision 0013): the subscriber puts the marker once the
        handler returned. It is a record for operators, not a lock: the handlers' records are."""
        self.service = service
        self.subscription: Subscription = service.subscription(subscription)
        self.id = subscriber_id(service, self.subscription)
        self.naming = naming
        self._registry = registry
        declared = {ref.event_type for ref in self.subscription.events}
        if set(handlers) != declared:
            raise ValueError(f"{self.id} declares {sorted(declared)} but handles {sorted(handlers)}")
        self._handlers = dict(handlers)
        self._producer_sources = {t: topology.producer_of(t).source for t in declared} if topology else {}
        self._read_as = dict(read_as or {})
        self._log = logger or Logger(service=service.source)
        self._session = session or boto3.Session()
        self._dlq_url: str | None = None
        self._deduplicated_by_marker = deduplicated_by_marker
        self._marks_after_handler = marks_after_handler
        self._dynamodb: Any = None
        # Built on the first batch, not at import: every function of a Chalice app imports the module
        # that declares every subscriber, and only this subscriber's own function ever needs its
        # powertools persistence layer (a boto3 client) and the idempotency and batch modules.
        self._idempotent: tuple[IdempotencyConfig, Callable[..., Any]] | None = None
        self._lock = threading.Lock()
        # Per thread: the invocation's tally, and whether the handler ran for the record at hand (when
        # powertools answers a repeat from its record, `_apply` never runs).
        self._local = threading.local()

    def _apply_once(self, detail: dict[str, Any]) -> Any:
        if self._deduplicated_by_marker:
            return self._apply(detail=detail)
        return self._idempotent_apply()[1](detail=detail)

    def _idempotent_apply(self) -> tuple[IdempotencyConfig, Callable[..., Any]]:
        with self._lock:
            if self._idempotent is None:
                from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415 (see __init__)
                    DynamoDBPersistenceLayer,
                    IdempotencyConfig,
                    idempotent_function,
                )

                config = IdempotencyConfig(
                    event_key_jmespath="metadata.event_id",
                    raise_on_no_idempotency_key=True,
                    expires_after_seconds=IDEMPOTENCY_RETENTION_SECONDS,
                )
                persistence = DynamoDBPersistenceLayer(
                    table_name=self.naming.table(self.service.name),
                    key_attr=self.service.table.partition_key,
                    sort_key_attr=self.service.table.sort_key,
                    static_pk_value=f"IDEMPOTENCY#{self.id}",
                    expiry_attr=self.service.table.ttl_attribute,
                    boto3_session=self._session,
                )
                apply = idempotent_function(
                    self._apply, data_keyword_argument="detail", persistence_store=persistence, config=config, key_prefix=self.id
                )
                self._idempotent = (config, apply)
            return self._idempotent

    @property
    def queue_name(self) -> str:
        queue: str = self.naming.queue(self.service.name, self.subscription.name)
        return queue

    @property
    def batch_size(self) -> int:
        size: int = self.subscription.batch_size
        return size

    def handle(self, sqs_event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda entry: returns {"batchItemFailures": [...]} for the records to retry."""
        from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (see __init__)
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        if not self._deduplicated_by_marker and context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._idempotent_apply()[0].register_lambda_context(context)
        processor = BatchProcessor(event_type=EventType.SQS)
        self._local.tally = tally = Tally(self.service.source, subscriber=self.id)
        tally.zero(HANDLED, DUPLICATES, FAILED, DEAD_LETTERED)
        _invocation.context = context
        try:
            return dict(
                process_partial_response(event=sqs_event, record_handler=self._record, processor=processor, context=context)
            )
        finally:
            _invocation.context = None
            tally.flush()

    def _count(self, name: str) -> None:
        tally: Tally | None = getattr(self._local, "tally", None)
        if tally is not None:
            tally.count(name)

    def _record(self, record: SQSRecord) -> None:
        try:
            event = self._parse(record.body)
        except InvalidEvent as invalid:
            self._dead_letter(record, invalid.reason)
            return
        # Thread-local keys: locally several subscribers of one service share a process and a logger.
        self._log.thread_safe_append_keys(
            event_id=event.event_id, correlation_id=event.metadata.correlation_id, event_type=event.event_type
        )
        self._local.applied = False
        try:
            self._apply_once(detail=event.to_detail())
        except Exception as error:
            self._count(FAILED)
            self._log.exception("handler failed; the record will be retried", extra={"message_id": record.message_id})
            self._record_failure(record, event, error)
            raise
        else:
            self._count(HANDLED if self._local.applied else DUPLICATES)
        finally:
            self._log.thread_safe_remove_keys(["event_id", "correlation_id", "event_type"])

    def _parse(self, body: str) -> DomainEvent:
        try:
            envelope = json.loads(body)
        except ValueError:
            raise InvalidEvent("body is not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
            raise InvalidEvent("body is not an EventBridge event with a detail object")
        metadata = envelope["detail"].get("metadata")
        # Before the contract: a mismatch is the reason, whatever else the detail gets wrong.
        if "detail-type" in envelope and isinstance(metadata, dict) and envelope["detail-type"] != metadata.get("event_type"):
            raise InvalidEvent(
                f"detail-type {envelope['detail-type']!r} disagrees with "
                f"detail.metadata.event_type {metadata.get('event_type')!r}"
            )
        event = self._registry.parse(envelope["detail"])
        if "source" in envelope:
            producer = self._producer_sources.get(event.event_type, event.metadata.producer)
            if envelope["source"] != producer:
                raise InvalidEvent(f"source {envelope['source']!r} is not {event.event_type}'s producer {producer!r}")
        if not self.subscription.accepts(event.event_type, event.metadata.schema_version):
            raise InvalidEvent(f"{self.id} does not accept {event.event_type} v{event.metadata.schema_version}")
        return event

    def _apply(self, detail: dict[str, Any]) -> dict[str, Any]:
        event = self._registry.parse(detail)
        if event.event_type in self._read_as:
            event = self._registry.upcast(event, self._read_as[event.event_type])
        try:
            self._handlers[event.event_type](event, self.id)
        except AlreadyProcessed:
            self._log.info("duplicate delivery: already applied")
            return {"status": "duplicate"}
        self._local.applied = True
        if self._marks_after_handler:
            self._put_marker(event)
        self._log.info("event handled")
        return {"status": "applied"}

    def _table_client(self) -> Any:
        with self._lock:
            if self._dynamodb is None:
                self._dynamodb = self._session.client("dynamodb")
            return self._dynamodb

    def _put_marker(self, event: DomainEvent) -> None:
        marker = {
            **processed_marker_key(self.id, event.event_id),
            ITEM_TYPE: PROCESSED_ITEM_TYPE,
            "event_type": event.event_type,
            "processed_at": datetime.now(UTC).isoformat(),
        }
        self._table_client().put_item(TableName=self.naming.table(self.service.name), Item=to_dynamodb(marker))

    def _record_failure(self, record: SQSRecord, event: DomainEvent, error: Exception) -> None:
        """Keep why the handler failed where `shop dlq show` finds it once SQS has moved the message
        to the DLQ. Best effort: the record is retried whether or not this write succeeds."""
        now = datetime.now(UTC)
        item = {
            **failure_record_key(self.id, event.event_id),
            ITEM_TYPE: FAILURE_ITEM_TYPE,
            "event_type": event.event_type,
            "correlation_id": event.metadata.correlation_id,
            "reason": f"{type(error).__name__}: {error}"[:MAX_REASON_CHARS],
            "failed_at": now.isoformat(),
            "message_id": record.message_id,
            "receive_count": int(record.attributes.approximate_receive_count or 0),
            "expires_at": int((now + FAILURE_RETENTION).timestamp()),
        }
        try:
            self._table_client().put_item(TableName=self.naming.table(self.service.name), Item=to_dynamodb(item))
        except Exception:
            self._log.warning("could not record the handler's failure", extra={"message_id": record.message_id}, exc_info=True)

    def _dead_letter(self, record: SQSRecord, reason: str) -> None:
        """Park a record that no retry can fix in the DLQ, with its reason, and let the batch go on."""
        self._log.error("invalid event sent to the DLQ", extra={"reason": reason, "message_id": record.message_id})
        sqs = self._session.client("sqs")
        if self._dlq_url is None:
            name = self.naming.dlq(self.service.name, self.subscription.name)
            self._dlq_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.send_message(
            QueueUrl=self._dlq_url,
            MessageBody=record.body,
            MessageAttributes={
                DEAD_LETTER_REASON: {"DataType": "String", "StringValue": reason[:1000]},
                "shop-subscriber": {"DataType": "String", "StringValue": self.id},
                "shop-original-message-id": {"DataType": "String", "StringValue": record.message_id},
            },
        )
        self._count(DEAD_LETTERED)

"""The domain-event envelope every service publishes and consumes.

An EventBridge entry carries `Detail = {"metadata": {...}, "data": {...}}`. The metadata is the same
for every event; `data` is the contract of one (event type, major schema version), registered in an
`EventRegistry`. The producer sets `event_id` once; it is kept through replays and redrives and is the
only idempotency key a consumer may use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class EventMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1, description="Set once by the producer; the consumers' idempotency key.")
    event_type: str = Field(min_length=1)
    schema_version: int = Field(ge=1, description="Major version of the data contract.")
    occurred_at: datetime = Field(description="UTC, ISO-8601.")
    producer: str = Field(min_length=1, description="The producing service, e.g. shop.orders.")
    correlation_id: str = Field(min_length=1, description="The order or video the story is about.")
    causation_id: str | None = Field(default=None, description="The event_id of the event that caused this one.")

    @field_validator("occurred_at")
    @classmethod
    def _must_be_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a UTC offset")
        return value.astimezone(UTC)


class EventData(BaseModel):
    """Base of every event contract. Unknown fields are ignored so that adding optional fields is compatible."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class DomainEvent:
    metadata: EventMetadata
    data: EventData
    # Set when the registry upcast this event: the major it was published in.
    upcast_from: int | None = None

    @property
    def published_version(self) -> int:
        return self.upcast_from or self.metadata.schema_version

    @property
    def event_id(self) -> str:
        return self.metadata.event_id

    @property
    def event_type(self) -> str:
        return self.metadata.event_type

    def to_detail(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata.model_dump(mode="json"),
            "data": self.data.model_dump(mode="json"),
        }

    def caused(self, data: EventData, *, producer: str, now: datetime | None = None) -> DomainEvent:
        """A new event caused by this one: same correlation, causation = this event."""
        return new_event(
            data,
            producer=producer,
            correlation_id=self.metadata.correlation_id,
            causation_id=self.metadata.event_id,
            now=now,
        )


def new_event(
    data: EventData,
    *,
    producer: str,
    correlation_id: str,
    causation_id: str | None = None,
    now: datetime | None = None,
    event_id: str | None = None,
) -> DomainEvent:
    metadata = EventMetadata(
        event_id=event_id or str(uuid.uuid4()),
        event_type=type(data).event_type,
        schema_version=type(data).schema_version,
        occurred_at=now or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    return DomainEvent(metadata=metadata, data=data)


class InvalidEvent(Exception):
    """An event that can never be processed: malformed, or of a type/version nobody registered.

    Retrying it cannot help, so consumers send it to their DLQ with `reason` instead.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventRegistry:
    """Maps (event type, major version) to its data contract."""

    def __init__(self) -> None:
        self._contracts: dict[tuple[str, int], type[EventData]] = {}
        self._upcasters: dict[tuple[str, int], Callable[[EventData], EventData]] = {}

    def register(self, event_type: str, schema_version: int) -> Callable[[type[D]], type[D]]:
        def decorate(model: type[D]) -> type[D]:
            key = (event_type, schema_version)
            if key in self._contracts:
                raise ValueError(f"{event_type} v{schema_version} is registered twice")
            model.event_type = event_type
            model.schema_version = schema_version
            self._contracts[key] = model
            return model

        return decorate

    def register_upcaster(
        self, event_type: str, from_version: int
    ) -> Callable[[Callable[[Any], EventData]], Callable[[Any], EventData]]:
        """Register how to read `event_type` v`from_version` data as v`from_version + 1` data."""

        def decorate(upcast: Callable[[Any], EventData]) -> Callable[[Any], EventData]:
            for version in (from_version, from_version + 1):
                if (event_type, version) not in self._contracts:
                    raise ValueError(f"register {event_type} v{version} before its upcaster")
            self._upcasters[(event_type, from_version)] = upcast
            return upcast

        return decorate

    def upcast(self, event: DomainEvent, to_version: int) -> DomainEvent:
        """The same event (same event_id and metadata otherwise) read as major `to_version`."""
        version = event.metadata.schema_version
        if version > to_version:
            raise InvalidEvent(f"{event.event_type} v{version} cannot be read as the older v{to_version}")
        data = event.data
        while version < to_version:
            upcaster = self._upcasters.get((event.event_type, version))
            if upcaster is None:
                raise InvalidEvent(f"no upcaster from {event.event_type} v{version} to v{version + 1}")
            data = upcaster(data)
            version += 1
        if version == event.metadata.schema_version:
            return event
        metadata = event.metadata.model_copy(update={"schema_version": version})
        return DomainEvent(metadata=metadata, data=data, upcast_from=event.published_version)

    def contract(self, event_type: str, schema_version: int) -> type[EventData]:
        try:
            return self._contracts[(event_type, schema_version)]
        except KeyError:
            raise InvalidEvent(f"unknown event {event_type} v{schema_version}") from None

    def __iter__(self) -> Iterator[tuple[tuple[str, int], type[EventData]]]:
        return iter(sorted(self._contracts.items()))

    def __contains__(self, key: object) -> bool:
        return key in self._contracts

    def parse(self, detail: Mapping[str, Any]) -> DomainEvent:
        """Validate an EventBridge `detail` against its contract; raise InvalidEvent naming what is wrong."""
        if not isinstance(detail, Mapping):
            raise InvalidEvent("detail is not a JSON object")
        try:
            metadata = EventMetadata.model_validate(detail.get("metadata"))
        except ValidationError as error:
            raise InvalidEvent(f"metadata: {describe_validation_error(error)}") from None
        contract = self.contract(metadata.event_type, metadata.schema_version)
        try:
            data = contract.model_validate(detail.get("data"))
        except ValidationError as error:
            raise InvalidEvent(
                f"{metadata.event_type} v{metadata.schema_version} data: {describe_validation_error(error)}"
            ) from None
        return DomainEvent(metadata=metadata, data=data)


def describe_validation_error(error: ValidationError) -> str:
    return "; ".join(f"{field_path(e['loc']) or '(root)'}: {e['msg']}" for e in error.errors())


def field_path(loc: tuple[int | str, ...]) -> str:
    """('lines', 0, 'quantity') -> 'lines[0].quantity'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path

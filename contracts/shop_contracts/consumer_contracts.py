"""Consumer-driven contracts (message-pact style): each consumer says what it needs from an event,
and the producer's own tests prove it still gets it.

A declaration is one JSON file per (subscription, event type, major version) in the consuming
service's folder: `services/<consumer>/consumer-contracts/<subscription>.<EventType>.v<N>.json`:

    {
      "consumer": "fulfillment",                 # the consuming service (its folder)
      "subscription": "request-shipment",        # as named in shop_contracts.topology
      "event_type": "PaymentCaptured",
      "schema_version": 1,                       # the major version consumed
      "provider_state": "a physical order ...",  # the producer situation the event comes from
      "description": "what the consumer does with the event",
      "relies_on": ["metadata.event_id", "data.order_id", "data.lines[].sku", ...],
      "example": {"metadata": {...}, "data": {...}}   # an EventBridge `detail`, as DomainEvent.to_detail()
    }

Field paths in `relies_on` are rooted at the event's `detail`, so the envelope and the payload are
addressed alike and never confused: `metadata.<field>` for the envelope, `data.<field>` for the
contract's payload, `.` to go into an object and `[]` after a list's name for each of its elements
(`data.lines[].sku`, `data.shipping_address.postal_code`). A path holds when the field is present
and non-null wherever it leads; a list the path goes through must hold at least one element (like
Pact's `eachLike`), or nothing would have been checked. Every subscriber needs `metadata.event_type`
and `metadata.schema_version` to route an event at all, so declarations list the envelope fields
the consumer's own code reads: `metadata.event_id` (its idempotency key) and, e.g., `occurred_at`.

The producer side runs `check(declaration, produced_detail)` on an event its real code produced in
the declared `provider_state`; the consumer side feeds `example` through its real handler.

Test tooling: no service imports this module at run time, so its jsonschema dependency
(requirements/dev.txt) stays out of the deployment packages that carry shop_contracts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shop_contracts.compat import dereferenced
from shop_contracts.schemas import SCHEMA_DIR
from shop_eventing.envelope import describe_validation_error
from shop_eventing.topology import Topology

CONTRACTS_FOLDER = "consumer-contracts"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"^(metadata|data)(\.{_NAME}(\[\])?)+$")
_SEGMENT = re.compile(rf"^({_NAME})(\[\])?$")
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
)


class DeclarationInvalid(Exception):
    """A declaration file that cannot be used; the message names the file and what is wrong."""


class ConsumerContract(BaseModel):
    """One consumer's expectations of one (event type, major version), as declared in its JSON file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consumer: str = Field(min_length=1)
    subscription: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    schema_version: int = Field(ge=1)
    provider_state: str = Field(min_length=1, description="The producer situation the consumer expects the event from.")
    description: str = Field(min_length=1, description="What the consumer does with the event, i.e. why it relies on it.")
    relies_on: tuple[str, ...] = Field(min_length=1)
    example: dict[str, Any]

    @field_validator("relies_on")
    @classmethod
    def _paths_are_well_formed(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        malformed = [path for path in paths if not _PATH.match(path)]
        if malformed:
            raise ValueError(
                f"{malformed} are not field paths: start with metadata. or data., join names with dots, "
                "add [] after a list's name (e.g. data.lines[].sku)"
            )
        repeated = sorted(path for path, count in Counter(paths).items() if count > 1)
        if repeated:
            raise ValueError(f"{repeated} listed more than once")
        return paths

    @property
    def subscriber(self) -> str:
        """The subscriber id the consumer's code uses: <service>.<subscription>."""
        return f"{self.consumer}.{self.subscription}"

    @property
    def id(self) -> str:
        return f"{self.subscriber}:{self.event_type}.v{self.schema_version}"

    @property
    def file_name(self) -> str:
        return f"{self.subscription}.{self.event_type}.v{self.schema_version}.json"

    @property
    def location(self) -> str:
        """Where the declaration lives, relative to the repository root."""
        return f"services/{self.consumer}/{CONTRACTS_FOLDER}/{self.file_name}"


# --- loading ---------------------------------------------------------------------------------------


def load(path: Path) -> ConsumerContract:
    """Read and validate one declaration file; its name and folder must agree with its content."""
    try:
        raw = json.loads(path.read_text())
    except ValueError as error:
        raise DeclarationInvalid(f"{path}: not valid JSON ({error})") from None
    try:
        declaration = ConsumerContract.model_validate(raw)
    except ValidationError as error:
        raise DeclarationInvalid(f"{path}: {describe_validation_error(error)}") from None
    folder_service = path.parent.parent.name
    if path.parent.name != CONTRACTS_FOLDER or declaration.consumer != folder_service:
        raise DeclarationInvalid(
            f"{path}: declares consumer {declaration.consumer!r} but lives in {path.parent}; "
            f"a service's declarations live in services/<service>/{CONTRACTS_FOLDER}/"
        )
    if path.name != declaration.file_name:
        raise DeclarationInvalid(f"{path}: a declaration of its content is named {declaration.file_name}")
    return declaration


def declaration_files(root: Path) -> list[Path]:
    return sorted(root.glob(f"services/*/{CONTRACTS_FOLDER}/*.json"))


def discover(root: Path) -> list[ConsumerContract]:
    """Every declaration in the repository at `root`, ordered by id."""
    return sorted((load(path) for path in declaration_files(root)), key=lambda declaration: declaration.id)


def consumed_by(declarations: Iterable[ConsumerContract], service: str) -> list[ConsumerContract]:
    return [declaration for declaration in declarations if declaration.consumer == service]


def produced_by(declarations: Iterable[ConsumerContract], service: str, topology: Topology) -> list[ConsumerContract]:
    """The declarations about events `service` publishes: the ones its producer tests must satisfy."""
    return [declaration for declaration in declarations if topology.producer_of(declaration.event_type).name == service]


# --- the producer side ----------------------------------------------------------------------------


class UnknownProviderState(LookupError):
    """A consumer expects an event in a situation its producer's tests cannot drive the code into yet."""


def driver_for[T](declaration: ConsumerContract, provider_states: Mapping[str, T], producer: str) -> T:
    """The producer test's way into `declaration`'s provider state; raises UnknownProviderState,
    naming the consumer and the state, when the producer has none."""
    try:
        return provider_states[declaration.provider_state]
    except KeyError:
        raise UnknownProviderState(
            f"{declaration.subscriber} ({declaration.location}) expects {declaration.event_type} "
            f"v{declaration.schema_version} in the provider state {declaration.provider_state!r}, which {producer} "
            "cannot produce yet: add it to the PROVIDER_STATES of its tests/test_contracts_as_producer.py"
        ) from None


def the_event(details: Iterable[Mapping[str, Any]], event_type: str, schema_version: int) -> dict[str, Any]:
    """The one event of that type and major among `details` (what a producer published); raises
    AssertionError listing what was published when there is none, or more than one."""
    details = list(details)
    matching = [
        d for d in details if (d["metadata"]["event_type"], d["metadata"]["schema_version"]) == (event_type, schema_version)
    ]
    if len(matching) != 1:
        published = [f"{d['metadata']['event_type']} v{d['metadata']['schema_version']}" for d in details]
        raise AssertionError(f"expected one {event_type} v{schema_version}, the producer published {published}")
    return dict(matching[0])


# --- field paths -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What one field path leads to at one concrete location (e.g. data.lines[1].sku).

    `problem` says why nothing usable is there ("missing", "null", ...); None when `value` is usable."""

    location: str
    value: Any = None
    problem: str | None = None


def resolve(payload: Mapping[str, Any], path: str) -> list[Found]:
    """Follow `path` into `payload`: one Found per concrete location, one per element for `[]`."""
    found = [Found(location="", value=payload)]
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            raise ValueError(f"{path!r} is not a field path")
        name, each = match.group(1), bool(match.group(2))
        found = [step for parent in found for step in _step(parent, name, each)]
    return found


def _step(parent: Found, name: str, each: bool) -> list[Found]:
    if parent.problem:
        return [parent]
    if not isinstance(parent.value, Mapping):
        return [Found(parent.location, parent.value, "not an object")]
    location = f"{parent.location}.{name}" if parent.location else name
    value = parent.value.get(name)
    problem = "missing" if name not in parent.value else "null" if value is None else None
    if problem or not each:
        return [Found(location, value, problem)]
    return _elements(location, value)


def _elements(location: str, value: Any) -> list[Found]:
    if not isinstance(value, list):
        return [Found(location, value, "not a list")]
    if not value:
        return [Found(location, value, "an empty list, so nothing in it was checked")]
    return [Found(f"{location}[{index}]", item, "null" if item is None else None) for index, item in enumerate(value)]


def satisfied(payload: Mapping[str, Any], path: str) -> bool:
    return all(found.problem is None for found in resolve(payload, path))


def check(declaration: ConsumerContract, produced_detail: Mapping[str, Any]) -> list[str]:
    """What `produced_detail` fails to give the consumer: one line per problem, naming the consumer,
    its subscription, the event and version, and the field path; empty when the consumer is served.

    Like Pact's type matching, a relied-on value must also have the JSON type of the example's."""
    subject = f"{declaration.subscriber} relies on {declaration.event_type} v{declaration.schema_version}"
    metadata = produced_detail.get("metadata")
    produced = (metadata.get("event_type"), metadata.get("schema_version")) if isinstance(metadata, Mapping) else None
    if produced != (declaration.event_type, declaration.schema_version):
        shown = f"{produced[0]} v{produced[1]}" if produced else "an event without metadata"
        return [f"{subject}, but the producer's event is {shown}"]
    violations = []
    for path in declaration.relies_on:
        expected = _example_type(declaration, path)
        for found in resolve(produced_detail, path):
            if found.problem:
                violations.append(f"{subject} field {path}: {found.location} is {found.problem}")
            elif expected and _json_type(found.value) != expected and not _widens(expected, found.value):
                violations.append(
                    f"{subject} field {path}: {found.location} is {_a(_json_type(found.value))}, "
                    f"the consumer's example has {_a(expected)}"
                )
    return violations


def _example_type(declaration: ConsumerContract, path: str) -> str | None:
    usable = [found.value for found in resolve(declaration.example, path) if found.problem is None]
    return _json_type(usable[0]) if usable else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    # bool before int: True is an int to Python, a boolean to JSON.
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "object")


def _widens(expected: str, value: Any) -> bool:
    """An integer is a number; a number is not an integer (money must stay integral)."""
    return expected == "number" and _json_type(value) == "integer"


def _a(json_type: str) -> str:
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


# --- declarations against the committed schemas -----------------------------------------------------


def committed_schema(event_type: str, schema_version: int, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    path = schema_dir / f"{event_type}.v{schema_version}.json"
    if not path.exists():
        raise LookupError(f"no committed schema {path.name} in {schema_dir}")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def declaration_problems(declaration: ConsumerContract, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """A declaration is usable when its event has a committed schema, every path it relies on is a
    field of that schema, its example passes the schema, and the example gives every relied-on field."""
    where = declaration.location
    try:
        schema = committed_schema(declaration.event_type, declaration.schema_version, schema_dir)
    except LookupError as missing:
        return [f"{where}: {missing}"]
    problems = [f"{where}: relies on {problem}" for problem in undefined_paths(schema, declaration.relies_on)]
    problems += [f"{where}: example {problem}" for problem in schema_errors(schema, declaration.example)]
    problems += [f"{where}: example does not satisfy its own relies_on: {v}" for v in check(declaration, declaration.example)]
    return problems


def undefined_paths(schema: Mapping[str, Any], paths: Sequence[str]) -> list[str]:
    """The paths (one message each) that lead to no field the schema defines."""
    title = schema.get("title", "the event")
    problems = []
    for path in paths:
        nodes = [dict(schema)]
        walked = ""
        for segment in path.split("."):
            match = _SEGMENT.match(segment)
            if match is None:
                raise ValueError(f"{path!r} is not a field path")
            name, each = match.group(1), bool(match.group(2))
            walked = f"{walked}.{name}" if walked else name
            nodes = [prop for node in nodes for prop in _properties_named(node, name, schema)]
            if not nodes:
                problems.append(f"{path}, but the schema of {title} defines no field {walked}")
                break
            if each:
                nodes = [item for node in nodes for item in _list_items(node, schema)]
                if not nodes:
                    problems.append(f"{path}, but the schema of {title} does not make {walked} a list")
                    break
                walked += "[]"
    return problems


def _variants(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[dict[str, Any]]:
    node = dereferenced(node, root)
    if "anyOf" in node:
        return [variant for option in node["anyOf"] for variant in _variants(option, root)]
    return [node]


def _properties_named(node: Mapping[str, Any], name: str, root: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [variant["properties"][name] for variant in _variants(node, root) if name in variant.get("properties", {})]


def _list_items(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [variant["items"] for variant in _variants(node, root) if variant.get("type") == "array" and "items" in variant]


# --- JSON Schema validation -------------------------------------------------------------------------


def schema_errors(schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Where `instance` breaks `schema` (JSON Schema 2020-12, `format` asserted), one message per
    error, located by field path; empty when it passes.
    """
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return sorted(f"{_location(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance))


def _location(path: Iterable[str | int]) -> str:
    location = ""
    for part in path:
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else str(part))
    return location or "(event)"


# --- declarations against the topology ---------------------------------------------------------------


def coverage_problems(declarations: Iterable[ConsumerContract], topology: Topology) -> list[str]:
    """Every (subscription, event, major) in the topology has exactly one declaration, and every
    declaration names a (subscription, event, major) that the topology has."""
    declared = Counter((d.consumer, d.subscription, d.event_type, d.schema_version) for d in declarations)
    wanted = {
        (service.name, subscription.name, ref.event_type, version)
        for service, subscription in topology.subscriptions()
        for ref in subscription.events
        for version in ref.versions
    }
    problems = []
    for service, subscription, event_type, version in sorted(wanted - set(declared)):
        problems.append(
            f"{service}.{subscription} consumes {event_type} v{version} but declares nothing about it: add "
            f"services/{service}/{CONTRACTS_FOLDER}/{subscription}.{event_type}.v{version}.json"
        )
    for consumer, subscription, event_type, version in sorted(set(declared) - wanted):
        problems.append(
            f"services/{consumer}/{CONTRACTS_FOLDER}/{subscription}.{event_type}.v{version}.json is orphaned: "
            f"the topology does not subscribe {consumer}.{subscription} to {event_type} v{version}"
        )
    for key, count in sorted(declared.items()):
        if count > 1:
            problems.append(f"{key[0]}.{key[1]} declares {key[2]} v{key[3]} {count} times")
    return problems

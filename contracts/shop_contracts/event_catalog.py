"""The event catalog, generated from the contracts and the topology: who publishes each event, who
consumes which major versions, and what is in it.

    python -m shop_contracts.event_catalog          # write contracts/asyncapi.json and docs/events.md
    python -m shop_contracts.event_catalog --check  # exit 1 if either differs from the code

contracts/asyncapi.json is an AsyncAPI 3.0 document: a channel per event type (a detail-type on the
shop's EventBridge bus), a `send` operation per producer and a `receive` operation per subscription;
message payloads reference the committed JSON Schemas in contracts/schemas/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shop_contracts.events import REGISTRY
from shop_contracts.schemas import SCHEMA_DIR, generated_schemas
from shop_contracts.topology import TOPOLOGY

ASYNCAPI_PATH = SCHEMA_DIR.parent / "asyncapi.json"
PAGE_PATH = SCHEMA_DIR.parent.parent / "docs" / "events.md"


def _event_types() -> list[str]:
    return sorted({event_type for (event_type, _), _ in REGISTRY})


def _versions(event_type: str) -> list[int]:
    return sorted(version for (name, version), _ in REGISTRY if name == event_type)


def _consumers(event_type: str) -> list[tuple[str, str, tuple[int, ...]]]:
    return [
        (service.name, subscription.name, ref.versions)
        for service, subscription in TOPOLOGY.subscriptions()
        for ref in subscription.events
        if ref.event_type == event_type
    ]


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in _event_types():
        producer = TOPOLOGY.producer_of(event_type)
        refs = {}
        for version in _versions(event_type):
            name = f"{event_type}V{version}"
            contract = dict(REGISTRY)[(event_type, version)]
            messages[name] = {
                "name": event_type,
                "title": f"{event_type} v{version}",
                "summary": (contract.__doc__ or "").strip(),
                "contentType": "application/json",
                "payload": {"$ref": f"schemas/{event_type}.v{version}.json"},
                "bindings": {"x-eventbridge": {"source": producer.source, "detail-type": event_type, "schema_version": version}},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        channels[event_type] = {
            "address": event_type,
            "title": f"detail-type {event_type} on the shop's bus",
            "messages": refs,
        }
        operations[f"{producer.name}.publish{event_type}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "summary": f"{producer.name} publishes {event_type} through its outbox",
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}V{v}"} for v in _versions(event_type)],
        }
        for service, subscription, versions in _consumers(event_type):
            operations[f"{service}.{subscription}.receive{event_type}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{event_type}"},
                "summary": f"{service}/{subscription} consumes {event_type} v{', v'.join(map(str, versions))} from its own queue",
                "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}V{v}"} for v in versions],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "VOD shop domain events",
            "version": "1.0.0",
            "description": "Generated from contracts/ by `make schemas`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in node:
        return " or ".join(_type_of(v, defs) for v in node["anyOf"])
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    if node.get("type") == "array":
        return f"list of {_type_of(node.get('items', {}), defs)}"
    return str(node.get("type", "any"))


def _field_rows(schema: dict[str, Any], definition: str) -> list[str]:
    defs = schema["$defs"]
    model = defs[definition]
    required = set(model.get("required", []))
    rows = []
    for name, node in model["properties"].items():
        description = node.get("description", "")
        rows.append(f"| `{name}` | {_type_of(node, defs)} | {'yes' if name in required else 'no'} | {description} |")
    return rows


def page() -> str:
    generated = generated_schemas()
    lines = [
        "# Event catalog",
        "",
        "Generated from `contracts/` by `make schemas`; do not edit by hand. Every event travels as",
        '`{"metadata": {...}, "data": {...}}` on the shop\'s EventBridge bus (`Source` = producer,',
        "`DetailType` = event type). The machine-readable form is `contracts/asyncapi.json` (AsyncAPI 3.0);",
        "each version's JSON Schema is in `contracts/schemas/`, its published revisions in `contracts/schemas/history/`.",
        "",
        "| event | producer | versions | consumers |",
        "|---|---|---|---|",
    ]
    for event_type in _event_types():
        consumers = ", ".join(f"{s}.{sub} (v{', v'.join(map(str, v))})" for s, sub, v in _consumers(event_type)) or "none yet"
        versions = ", ".join(f"v{v}" for v in _versions(event_type))
        lines.append(
            f"| [{event_type}](#{event_type.lower()}) | {TOPOLOGY.producer_of(event_type).name} | {versions} | {consumers} |"
        )
    for event_type in _event_types():
        lines += ["", f"## {event_type}"]
        for version in _versions(event_type):
            schema = generated[(event_type, version)]
            contract = dict(REGISTRY)[(event_type, version)]
            lines += ["", f"### v{version}", "", (contract.__doc__ or "").strip(), ""]
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            lines += _field_rows(schema, contract.__name__)
            nested = sorted(set(schema["$defs"]) - {contract.__name__, f"{event_type}V{version}Metadata", "EventMetadata"})
            for definition in nested:
                lines += ["", f"`{definition}`:", "", "| field | type | required | description |", "|---|---|---|---|"]
                lines += _field_rows(schema, definition)
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    return {ASYNCAPI_PATH: json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n", PAGE_PATH: page()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed catalog differs from the code")
    args = parser.parse_args(argv)
    wanted = rendered()
    if args.check:
        stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
        for path in stale:
            print(f"event catalog out of date: {path.name} (run: make schemas)")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generate (or check) the committed JSON Schema of every (event, major version).

python -m shop_contracts.schemas          # write contracts/schemas/<Event>.v<N>.json
python -m shop_contracts.schemas --check  # exit 1 if a committed schema differs from the code
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import create_model

from shop_contracts.events import REGISTRY
from shop_eventing.envelope import EventData, EventMetadata

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def envelope_schema(event_type: str, version: int, contract: type[EventData]) -> dict[str, Any]:
    metadata = create_model(
        f"{event_type}V{version}Metadata",
        __base__=EventMetadata,
        event_type=(Literal[event_type], ...),  # type: ignore[arg-type]
        schema_version=(Literal[version], ...),  # type: ignore[arg-type]
    )
    envelope = create_model(f"{event_type}V{version}Detail", metadata=(metadata, ...), data=(contract, ...))
    schema = envelope.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"{event_type} v{version}"
    schema["description"] = (contract.__doc__ or "").strip()
    return schema


def rendered_schemas() -> dict[str, str]:
    return {
        f"{event_type}.v{version}.json": json.dumps(envelope_schema(event_type, version, contract), indent=2, sort_keys=True)
        + "\n"
        for (event_type, version), contract in REGISTRY
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed schemas differ from the code")
    args = parser.parse_args(argv)
    wanted = rendered_schemas()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    if args.check:
        stale = sorted(n for n in wanted if committed.get(n) != wanted[n])
        orphans = sorted(set(committed) - set(wanted))
        for name in stale:
            print(f"schema out of date: contracts/schemas/{name} (run: make schemas)")
        for name in orphans:
            print(f"schema without a contract: contracts/schemas/{name}")
        return 1 if stale or orphans else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in wanted.items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(wanted)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

from shop_contracts.compat import breaches
from shop_contracts.events import REGISTRY
from shop_eventing.envelope import EventData, EventMetadata

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def history_dir() -> Path:
    return SCHEMA_DIR / "history"


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


def rendered_schemas(generated: dict[tuple[str, int], dict[str, Any]]) -> dict[str, str]:
    """The committed file name and text of each generated schema: what `--check` compares the folder with."""
    return {f"{event_type}.v{version}.json": _render(schema) for (event_type, version), schema in generated.items()}


def generated_schemas() -> dict[tuple[str, int], dict[str, Any]]:
    return {(event_type, version): envelope_schema(event_type, version, contract) for (event_type, version), contract in REGISTRY}


def _render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def revisions(event_type: str, version: int) -> list[Path]:
    folder = history_dir() / f"{event_type}.v{version}"
    return sorted(folder.glob("r*.json"), key=lambda p: int(p.stem[1:]))


def compatibility_problems(generated: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    problems = []
    for (event_type, version), schema in sorted(generated.items()):
        for revision in revisions(event_type, version):
            for breach in breaches(json.loads(revision.read_text()), schema):
                problems.append(
                    f"{event_type} v{version}: {breach} [breaks compatibility with published revision {revision.stem}; "
                    f"a breaking change needs {event_type} v{version + 1}, published beside v{version}]"
                )
    for folder in sorted(history_dir().glob("*.v*")):
        event_type, _, version_text = folder.name.rpartition(".v")
        if (event_type, int(version_text)) not in generated:
            problems.append(
                f"{event_type} v{version_text}: published revisions exist but the contract is gone; a major stays "
                "registered (and published) until every consumer has moved"
            )
    return problems


def _write(generated: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    written = []
    for (event_type, version), schema in sorted(generated.items()):
        text = _render(schema)
        (SCHEMA_DIR / f"{event_type}.v{version}.json").write_text(text)
        history = revisions(event_type, version)
        if not history or history[-1].read_text() != text:
            folder = history_dir() / f"{event_type}.v{version}"
            folder.mkdir(parents=True, exist_ok=True)
            revision = folder / f"r{len(history) + 1}.json"
            revision.write_text(text)
            written.append(str(revision.relative_to(SCHEMA_DIR.parent)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail on a stale schema or a breaking change")
    args = parser.parse_args(argv)
    generated = generated_schemas()
    problems = compatibility_problems(generated)
    if args.check:
        wanted = rendered_schemas(generated)
        committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
        problems += [
            f"schema out of date: contracts/schemas/{n} (run: make schemas)"
            for n in sorted(wanted)
            if committed.get(n) != wanted[n]
        ]
        problems += [f"schema without a contract: contracts/schemas/{n}" for n in sorted(set(committed) - set(wanted))]
        for (event_type, version), schema in sorted(generated.items()):
            history = revisions(event_type, version)
            if not history or history[-1].read_text() != _render(schema):
                problems.append(f"{event_type} v{version}: the current schema is not recorded as a revision (run: make schemas)")
        for problem in problems:
            print(problem)
        if not problems:
            print(f"contracts OK: {len(generated)} event versions, each compatible with all its published revisions")
        return 1 if problems else 0
    if problems:
        print("refusing to write schemas: the contracts break compatibility")
        for problem in problems:
            print(f"  {problem}")
        return 1
    SCHEMA_DIR.mkdir(exist_ok=True)
    for revision in _write(generated):
        print(f"new revision {revision}")
    print(f"wrote {len(generated)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

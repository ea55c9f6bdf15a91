"""The compatibility rule between revisions of one event's major version.

Within a major, a new schema must accept exactly what every earlier revision accepted, both ways:
old consumers read new events, and new consumers read archived events (replay depends on it).
Consumers ignore unknown fields, so the one change allowed is adding an optional field. Anything
else — removing a field, adding a required one, making a field optional or required, changing a
type or a constraint — is breaking, and needs a new major published beside the old one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# Keywords that describe, not constrain: they may change freely.
_ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$defs"}
_STRUCTURE = {"properties", "required", "items", "anyOf", "$ref"}


@dataclass(frozen=True)
class Breach:
    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


def breaches(old: dict[str, Any], new: dict[str, Any]) -> list[Breach]:
    """Everything that makes `new` incompatible with `old` (empty when compatible)."""
    found: list[Breach] = []
    _compare(old, old, new, new, "", found)
    return found


def dereferenced(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref` (if any) replaced by the schema it points at within `root`; the
    keywords written beside the `$ref` win over the target's. A `$ref` outside `root` is refused
    (`referencing.exceptions.Unresolvable`): the committed schemas are self-contained."""
    if "$ref" not in node:
        return dict(node)
    resource = Resource.from_contents(dict(root), default_specification=DRAFT202012)
    target = Registry().with_resource("", resource).resolver().lookup(node["$ref"]).contents
    beside = {key: value for key, value in node.items() if key != "$ref"}
    return dereferenced({**target, **beside}, root)  # the target may itself be a $ref


def _label(path: str) -> str:
    return path or "(event)"


def _compare(
    old_root: dict[str, Any], old: dict[str, Any], new_root: dict[str, Any], new: dict[str, Any], path: str, found: list[Breach]
) -> None:
    old = dereferenced(old, old_root)
    new = dereferenced(new, new_root)

    if "anyOf" in old or "anyOf" in new:
        _compare_variants(old_root, old, new_root, new, path, found)
        return

    for keyword in sorted((set(old) | set(new)) - _ANNOTATIONS - _STRUCTURE):
        if old.get(keyword) != new.get(keyword):
            found.append(Breach(_label(path), f"{keyword} changed from {_show(old.get(keyword))} to {_show(new.get(keyword))}"))

    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(set(old_props) - set(new_props)):
        found.append(Breach(_join(path, name), "field removed (consumers relying on it would break)"))
    for name in sorted(set(new_props) - set(old_props)):
        if name in new_required:
            found.append(Breach(_join(path, name), "required field added (archived events lack it); add it as optional"))
    for name in sorted(set(old_props) & set(new_props)):
        if name in old_required and name not in new_required:
            found.append(Breach(_join(path, name), "field made optional (old consumers rely on it being there)"))
        elif name in new_required and name not in old_required:
            found.append(Breach(_join(path, name), "field made required (archived events may lack it)"))
        _compare(old_root, old_props[name], new_root, new_props[name], _join(path, name), found)

    if "items" in old or "items" in new:
        if "items" in old and "items" in new:
            _compare(old_root, old["items"], new_root, new["items"], f"{path}[]", found)
        else:
            found.append(Breach(_label(path), "array items changed"))


def _compare_variants(
    old_root: dict[str, Any], old: dict[str, Any], new_root: dict[str, Any], new: dict[str, Any], path: str, found: list[Breach]
) -> None:
    old_variants = [dereferenced(v, old_root) for v in old.get("anyOf", [old])]
    new_variants = [dereferenced(v, new_root) for v in new.get("anyOf", [new])]
    old_kinds = sorted(_kind(v) for v in old_variants)
    new_kinds = sorted(_kind(v) for v in new_variants)
    if old_kinds != new_kinds:
        found.append(Breach(_label(path), f"type changed from {' | '.join(old_kinds)} to {' | '.join(new_kinds)}"))
        return
    by_kind = {_kind(v): v for v in new_variants}
    for variant in old_variants:
        _compare(old_root, variant, new_root, by_kind[_kind(variant)], path, found)


def _kind(node: dict[str, Any]) -> str:
    return str(node.get("type", "object" if "properties" in node else "any"))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True)

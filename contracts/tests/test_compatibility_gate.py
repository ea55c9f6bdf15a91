"""The compatibility gate: within a major only optional fields may be added (both ways compatible)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, create_model

from shop_contracts import schemas
from shop_contracts.compat import Breach, breaches
from shop_contracts.events import REGISTRY, Money
from shop_eventing.envelope import EventData, EventRegistry

COMMITTED_DIR = Path(schemas.__file__).resolve().parent.parent / "schemas"


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Placed(BaseModel):
    order_id: str
    lines: list[Line]
    note: str | None = None
    reason: Literal["a", "b"] = "a"


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


def variant(**fields: Any) -> type[BaseModel]:
    """Placed with some fields replaced (None removes one)."""
    base = {name: (info.annotation, info) for name, info in Placed.model_fields.items()}
    for name, spec in fields.items():
        if spec is None:
            base.pop(name)
        else:
            base[name] = spec
    return create_model("Placed", **base)  # type: ignore[call-overload,no-any-return]


def test_identical_schemas_are_compatible():
    assert breaches(schema_of(Placed), schema_of(Placed)) == []


def test_adding_an_optional_field_is_the_one_compatible_change():
    assert breaches(schema_of(Placed), schema_of(variant(gift=(str | None, None)))) == []


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"coupon": (str, ...)}, Breach("coupon", "required field added (archived events lack it); add it as optional")),
        ({"note": None}, Breach("note", "field removed (consumers relying on it would break)")),
        ({"order_id": (int, ...)}, Breach("order_id", 'type changed from "string" to "integer"')),
        ({"note": (str, ...)}, Breach("note", "type changed from null | string to string")),
        ({"reason": (Literal["a", "b", "c"], "a")}, Breach("reason", 'enum changed from ["a", "b"] to ["a", "b", "c"]')),
        ({"order_id": (str | None, None)}, Breach("order_id", "field made optional (old consumers rely on it being there)")),
    ],
    ids=["required-added", "removed", "type", "optional-to-required", "enum-widened", "required-to-optional"],
)
def test_breaking_changes_name_the_field_and_the_rule(changed, expected):
    found = breaches(schema_of(Placed), schema_of(variant(**changed)))
    assert expected in found, found


def test_changes_inside_array_items_name_the_nested_path():
    class Line2(BaseModel):
        sku: str
        quantity: int = Field(ge=0)

    found = breaches(schema_of(Placed), schema_of(variant(lines=(list[Line2], ...))))
    assert [str(b) for b in found] == [
        "lines[].quantity: exclusiveMinimum changed from 0 to (none)",
        "lines[].quantity: minimum changed from (none) to 0",
    ]


@pytest.fixture
def schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(COMMITTED_DIR, tmp_path / "schemas")
    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path / "schemas")
    return tmp_path / "schemas"


def registry_with(event_type: str, version: int, contract: type[EventData] | None) -> EventRegistry:
    """The real registry with one contract replaced (or removed, when None)."""
    changed = EventRegistry()
    for key, original in REGISTRY:
        replacement = contract if key == (event_type, version) else original
        if replacement is not None:
            changed.register(*key)(replacement)
    return changed


def payment_failed_with(**fields: Any) -> type[EventData]:
    original = dict(REGISTRY)[("PaymentFailed", 1)]
    kept = {name: (info.annotation, info) for name, info in original.model_fields.items()}
    kept.update(fields)
    return create_model("PaymentFailedV1", __base__=EventData, __doc__=original.__doc__, **kept)  # type: ignore[call-overload,no-any-return]


def test_gate_fails_on_a_planted_required_field_and_names_event_field_and_rule(schema_dir, monkeypatch, capsys):
    monkeypatch.setattr(schemas, "REGISTRY", registry_with("PaymentFailed", 1, payment_failed_with(retry_at=(str, ...))))

    assert schemas.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert (
        "PaymentFailed v1: data.retry_at: required field added (archived events lack it); add it as optional "
        "[breaks compatibility with published revision r1; a breaking change needs PaymentFailed v2, published beside v1]"
    ) in out


def test_regenerating_refuses_a_breaking_change_and_writes_nothing(schema_dir, monkeypatch, capsys):
    before = {p: p.read_text() for p in schema_dir.rglob("*.json")}
    without_reason = payment_failed_with()
    del without_reason.model_fields["reason"]
    without_reason.model_rebuild(force=True)
    monkeypatch.setattr(schemas, "REGISTRY", registry_with("PaymentFailed", 1, without_reason))

    assert schemas.main([]) == 1
    assert "data.reason: field removed" in capsys.readouterr().out
    assert {p: p.read_text() for p in schema_dir.rglob("*.json")} == before


def test_a_new_major_beside_the_old_one_passes(schema_dir, monkeypatch, capsys):
    changed = registry_with("PaymentFailed", 1, dict(REGISTRY)[("PaymentFailed", 1)])

    @changed.register("PaymentFailed", 2)
    class PaymentFailedV2(EventData):
        order_id: str
        amount: Money
        decline: dict[str, str]

    monkeypatch.setattr(schemas, "REGISTRY", changed)
    assert schemas.main([]) == 0
    capsys.readouterr()
    assert (schema_dir / "history" / "PaymentFailed.v2" / "r1.json").exists()
    assert schemas.main(["--check"]) == 0


def test_dropping_a_major_that_was_published_fails(schema_dir, monkeypatch, capsys):
    monkeypatch.setattr(schemas, "REGISTRY", registry_with("StockReleased", 1, None))

    assert schemas.main(["--check"]) == 1
    assert "StockReleased v1: published revisions exist but the contract is gone" in capsys.readouterr().out

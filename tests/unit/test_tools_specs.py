"""The tool registry: one module per tool, and what models see of each tool agrees with what equitr checks.

Adding a tool is one new module in `equitr.tools` that exports `SPEC`; the prompt, the JSON schema, the
interpretation layer and the agent loop pick it up from the registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic.fields import FieldInfo

from equitr.agent.toolloop import TOOLS
from equitr.interpret.aliases import resolve_tool
from equitr.interpret.prompt import PLAN_JSON_SCHEMA, plan_messages, tool_params
from equitr.tools.base import ToolSpec
from equitr.tools.registry import SPECS

ROOT = Path(__file__).resolve().parents[2]
# What models were shown before the registry existed: the cassettes match on request bodies, so this stays
# byte for byte.
GOLDEN = json.loads((ROOT / "tests/data/model_facing.json").read_text(encoding="utf-8"))
_INFRASTRUCTURE = {"__init__", "base", "registry"}


def test_every_tool_module_is_registered_and_every_schema_tool_has_a_spec() -> None:
    modules = {p.stem for p in (ROOT / "bot/tools").glob("*.py")} - _INFRASTRUCTURE
    assert modules == set(SPECS)
    assert all(SPECS[name].run.__module__ == f"equitr.tools.{name}" for name in modules)
    branches = PLAN_JSON_SCHEMA["properties"]["execution_steps"]["items"]["anyOf"]
    assert [b["properties"]["tool"]["enum"][0] for b in branches] == list(SPECS)
    assert [t["function"]["name"] for t in TOOLS] == list(SPECS)
    assert [spec.order for spec in SPECS.values()] == sorted({spec.order for spec in SPECS.values()})


def test_what_models_see_is_unchanged() -> None:
    assert plan_messages("REQUEST", repo_map="MAP")[0].content == GOLDEN["plan_system"]
    assert json.dumps(PLAN_JSON_SCHEMA) == GOLDEN["plan_json_schema"]
    assert json.dumps(TOOLS) == GOLDEN["tool_calling_tools"]
    assert json.dumps(tool_params("file", description=True)) == GOLDEN["tool_params"]["file+description"]


def _base(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        (only,) = [a for a in get_args(annotation) if a is not NoneType]
        return only
    return annotation


_BOUNDS = {annotated_types.MinLen: "min_length", annotated_types.Ge: "ge", annotated_types.Le: "le"}


def _bound(info: FieldInfo, kind: type) -> Any:
    return next((getattr(m, _BOUNDS[kind]) for m in info.metadata if isinstance(m, kind)), None)


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_the_schema_fragment_agrees_with_the_parameter_model(spec: ToolSpec[Any]) -> None:
    schema, fields = spec.schema, spec.params.model_fields
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert spec.params.model_config.get("extra") == "forbid"
    assert list(schema["properties"]) == list(fields)
    required = set(schema.get("required", ()))
    # The schema may ask models for more than the model insists on (file: `path`), never less.
    assert {name for name, info in fields.items() if info.is_required()} <= required <= set(fields)
    for name, info in fields.items():
        prop, kind = schema["properties"][name], _base(info.annotation)
        if get_origin(kind) is Literal:
            assert prop == {"type": "string", "enum": list(get_args(kind))}, name
        elif kind is str:
            assert prop["type"] == "string", name
            assert prop.get("minLength") == _bound(info, annotated_types.MinLen), name
        else:
            assert kind is int and prop["type"] == "integer", name
            assert prop.get("minimum") == _bound(info, annotated_types.Ge), name
            # No maximum for models: the interpretation layer clamps to the model's bound instead.
            assert prop.get("maximum") in (None, _bound(info, annotated_types.Le)), name


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_a_specs_names_belong_to_its_tool(spec: ToolSpec[Any]) -> None:
    for alias in spec.aliases:
        for name in alias.names.split():
            match = resolve_tool(name, fuzzy=False)
            assert match is not None and (match.tool, match.implied) == (spec.name, dict(alias.implied)), name
        assert set(alias.implied) <= set(spec.params.model_fields)
    for param, table in spec.enum_aliases.items():
        assert set(table) == set(get_args(_base(spec.params.model_fields[param].annotation))), param
    for names in spec.positional.values():
        assert set(names) <= set(spec.params.model_fields)
    assert spec.raw_text <= set(spec.params.model_fields)

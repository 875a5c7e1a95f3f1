"""Turn one raw step object into canonical tool parameters: aliases, coercion, enum correction, pydantic."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import pydantic

from equitr.interpret.aliases import (
    PARAM_ALIASES,
    STEP_KEYS,
    enum_choices,
    normalise_key,
    resolve_enum,
    resolve_tool,
)
from equitr.interpret.candidates import RawStep
from equitr.interpret.repair import parse
from equitr.tools.base import Params, ToolSpec
from equitr.tools.registry import SPECS, TOOL_NAMES, Step

Note = tuple[str, str]  # (repair kind, detail)

MAX_STEPS = 50
MAX_DESCRIPTION = 2000
_TOOLS = ", ".join(TOOL_NAMES)
_WRAPPER_TYPES = frozenset({"function", "tool_use", "tool_call", "tool", "function_call"})
_INT = re.compile(r"\D*?(-?\d+)\D*")
_GLOB = re.compile(r"[*?\[]")
_TEST_PATH = re.compile(r"[\w./-]*(?:/|\.py\b|::|\btest_)[\w./:\[\]-]*")


@dataclass(frozen=True, slots=True)
class _Fields:
    """How to coerce one tool's parameters, read from its pydantic model and its spec."""

    text: frozenset[str]  # strings (enums included), stripped
    raw: frozenset[str]  # strings whose whitespace is meaning: never stripped
    ranges: dict[str, tuple[int | None, int | None]]  # whole numbers, clamped into (low, high)
    enums: frozenset[str]  # a Literal's values, corrected by `resolve_enum`
    required: frozenset[str]  # never dropped when empty: an empty optional value means "not given"


def _fields(spec: ToolSpec[Any]) -> _Fields:
    text: set[str] = set()
    enums: set[str] = set()
    ranges: dict[str, tuple[int | None, int | None]] = {}
    for name, info in spec.params.model_fields.items():
        kind = _base(info.annotation)
        if get_origin(kind) is Literal:
            enums.add(name)
            text.add(name)
        elif kind is str:
            text.add(name)
        elif kind is int:
            low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
            high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
            ranges[name] = (low, high)  # type: ignore[assignment]
    required = frozenset(name for name, info in spec.params.model_fields.items() if info.is_required())
    return _Fields(frozenset(text - spec.raw_text), spec.raw_text, ranges, frozenset(enums), required)


def _base(annotation: Any) -> Any:
    """`X` of `X | None`."""
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not NoneType]
        return args[0] if len(args) == 1 else annotation
    return annotation


_FIELDS = {name: _fields(spec) for name, spec in SPECS.items()}


@dataclass(slots=True)
class Checked:
    """One step after checking; `params` is None when it could not be validated (see `errors`)."""

    tool: str = ""
    params: Params | None = None
    number: int | None = None
    deps: list[int] = field(default_factory=list)
    description: str = ""
    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) < 40:
        match = _INT.fullmatch(value.strip())
        return int(match.group(1)) if match else None
    return None


def _deps(value: Any, notes: list[Note], label: str) -> list[int]:
    if value is None or value == "" or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
        return []
    items: list[Any]
    if isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, str):
        items = re.findall(r"-?\d+", value)
        if not items:
            notes.append(("dependency_repaired", f"{label}: dependencies {value!r} name no step; ignored"))
    else:
        items = [value]
    out: list[int] = []
    for item in items:
        n = _int(item["step"] if isinstance(item, dict) and "step" in item else item)
        if n is None:
            notes.append(("dependency_repaired", f"{label}: dependency {item!r} is not a step number; ignored"))
        elif n not in out:
            out.append(n)
    return out


def _split(raw: dict[Any, Any]) -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """(tool name, parameters, step-level fields, leftover keys) of a step object."""
    data: dict[str, Any] = {str(k): v for k, v in raw.items()}
    for wrap in ("function", "tool_call", "call", "function_call"):
        inner = data.get(wrap)
        if isinstance(inner, dict):  # OpenAI {"type": "function", "function": {"name", "arguments"}}
            data = {**{k: v for k, v in data.items() if k != wrap}, **{str(k): v for k, v in inner.items()}}
    if isinstance(data.get("type"), str) and data["type"].lower() in _WRAPPER_TYPES:
        del data["type"]
    tool: Any = None
    params: Any = None
    step: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in data.items():
        role = STEP_KEYS.get(normalise_key(key))
        if role == "tool" and tool is None and isinstance(value, str):
            tool = value
        elif role == "parameters" and params is None:
            params = value
        elif role in ("step", "dependencies", "description") and role not in step:
            step[role] = value
        else:
            rest[key] = value
    # LangChain style {"action": "search", "action_input": {...}}: `action` names the tool.
    if tool is None and params is not None:
        action = next((k for k in rest if normalise_key(k) == "action"), None)
        if action is not None and isinstance(rest[action], str) and resolve_tool(rest[action], fuzzy=False):
            tool = rest.pop(action)
    return tool, params, step, rest


def _infer_tool(params: dict[str, Any]) -> str | None:
    """The tool a step without one means: the first (in the tools' order) whose `action` values its action
    is, else the first that one of its parameter names points to (the spec's `infer_keys`)."""
    keys = {normalise_key(str(k)) for k in params}
    action = params.get(next((k for k in params if normalise_key(str(k)) == "action"), ""))
    if isinstance(action, str):
        for name in SPECS:
            if "action" in _FIELDS[name].enums and resolve_enum(name, "action", action):
                return name
    return next((name for name, spec in SPECS.items() if keys & spec.infer_keys), None)


def check_step(raw: Any, position: int) -> Checked:
    out = Checked()
    label = f"step {position}"
    if not isinstance(raw, dict):
        out.errors.append(
            f'{label}: expected an object like {{"tool": "search", "parameters": {{...}}}}, '
            f"got {type(raw).__name__} {str(raw)[:60]!r}"
        )
        return out
    tool_name, params_raw, step, rest = _split(raw)
    out.number = _int(step.get("step")) if "step" in step else None
    if "step" in step and (out.number is None or out.number < 0):
        out.notes.append(("step_renumbered", f"{label}: step number {step['step']!r} is not a number"))
        out.number = None
    out.deps = _deps(step.get("dependencies"), out.notes, label)
    out.description = _description(step.get("description"))

    if isinstance(params_raw, str):
        parsed = parse(params_raw) if params_raw.strip() else ({}, False)
        if parsed is None or not isinstance(parsed[0], dict):
            out.errors.append(f"{label}: parameters {params_raw[:80]!r} are not a JSON object")
            return out
        params_raw = parsed[0]
        if parsed[1]:
            out.notes.append(("json_repaired", f"{label}: broken JSON in the parameters string"))
    if params_raw is None:
        params: dict[str, Any] = rest
        rest = {}
        if params:
            out.notes.append(("param_alias", f"{label}: parameters given beside the tool, not under 'parameters'"))
    elif isinstance(params_raw, dict):
        params = {str(k): v for k, v in params_raw.items()}
    else:
        out.errors.append(f"{label}: parameters must be an object, got {type(params_raw).__name__}")
        return out

    # An instruction written inside the parameters is the step's description, not a parameter.
    for key in [k for k in params if STEP_KEYS.get(normalise_key(k)) == "description"]:
        value = params.pop(key)
        if not out.description and _description(value):
            out.description = _description(value)
            out.notes.append(("param_alias", f"{label}: {key!r} moved out of the parameters into the description"))

    implied: dict[str, str] = {}
    if tool_name is None:
        inferred = _infer_tool({**rest, **params})
        if inferred is None:
            out.errors.append(f'{label}: no tool named; add "tool": one of {_TOOLS}')
            return out
        out.tool = inferred
        out.notes.append(("tool_alias", f"{label}: tool missing; inferred {inferred!r} from its parameters"))
    else:
        match = resolve_tool(tool_name)
        if match is None:
            out.errors.append(f"{label}: unknown tool {tool_name[:60]!r}; use one of: {_TOOLS}")
            return out
        out.tool = match.tool
        implied = match.implied
        if match.how != "exact":
            extra = f" ({', '.join(f'{k}={v}' for k, v in implied.items())})" if implied else ""
            out.notes.append(("tool_alias", f"{label}: tool {tool_name!r} → {match.tool!r}{extra}"))

    # Keys beside `parameters` that are parameters of this tool belong in it; anything else is noise.
    for key, value in rest.items():
        if normalise_key(key) in PARAM_ALIASES[out.tool] and key not in params:
            params[key] = value
            out.notes.append(("param_alias", f"{label}: {key!r} moved into parameters"))
        else:
            out.notes.append(("param_dropped", f"{label}: ignored step field {key!r}"))
    canonical = _canonical_params(out.tool, params, implied, label, out.notes, out.errors)
    if canonical is None:
        return out
    model = SPECS[out.tool].params
    try:
        out.params = model.model_validate(canonical)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "parameters"
            out.errors.append(f"{label} ({out.tool}): parameter {where!r}: {err['msg']}")
    return out


def _description(value: Any) -> str:
    """A step's description (what it is for; for an edit, the worker's instruction) as plain text."""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value if isinstance(v, str | int | float))
    return value.strip()[:MAX_DESCRIPTION] if isinstance(value, str) else ""


def _canonical_params(
    tool: str, params: dict[str, Any], implied: dict[str, str], label: str, notes: list[Note], errors: list[str]
) -> dict[str, Any] | None:
    where = f"{label} ({tool})"
    aliases = PARAM_ALIASES[tool]
    out: dict[str, Any] = {}
    # Exact names first, so `query` wins over a `pattern` that also maps to query.
    items = sorted(params.items(), key=lambda kv: aliases.get(normalise_key(kv[0])) != kv[0])
    hinted: dict[str, str] = {}
    for key, value in items:
        nk = normalise_key(key)
        canon = aliases.get(nk)
        if canon is None:
            valid = sorted({v for v in aliases.values() if v in SPECS[tool].params.model_fields})
            notes.append(("param_dropped", f"{where}: unknown parameter {key!r} dropped (valid: {', '.join(valid)})"))
            continue
        if value is None:
            continue
        if canon in out:
            notes.append(("param_dropped", f"{where}: {key!r} dropped, {canon!r} was already given"))
            continue
        out[canon] = value
        if key != canon:
            notes.append(("param_alias", f"{where}: {key!r} → {canon!r}"))
        if tool == "search" and nk in ("regex", "regexp", "symbol"):
            hinted["search_type"] = "regex" if nk != "symbol" else "symbol"
    for k, v in {**hinted, **implied}.items():
        out.setdefault(k, v)

    if tool == "search" and "path" in out:
        _scope_to_glob(out, where, notes)
    if tool == "file" and "lines" in out:
        _lines(out, where, notes)
    if tool == "run" and "command" in out:
        _command_to_target(out, where, notes)

    fields = _FIELDS[tool]
    for key in list(out):
        if not _coerce(out, key, fields, where, notes, errors):
            return None
    for key in sorted(fields.enums & out.keys()):
        if not _enum(out, tool, key, where, notes, errors):
            return None
    if tool == "file" and "action" not in out:
        out["action"] = _infer_file_action(out)
        notes.append(("enum_corrected", f"{where}: action missing; inferred {out['action']!r}"))
    if tool == "git" and "action" not in out:
        out["action"] = "commit" if "message" in out else ("log" if "path" in out else "status")
        notes.append(("enum_corrected", f"{where}: action missing; inferred {out['action']!r}"))
    if tool == "search" and out.get("search_type") == "filename" and "file_pattern" not in out:
        query = out.get("query")
        if isinstance(query, str) and query:
            out["file_pattern"] = query if _GLOB.search(query) else f"*{query}*"
            notes.append(("enum_corrected", f"{where}: file-name search; file_pattern {out['file_pattern']!r}"))
    return out


def _scope_to_glob(out: dict[str, Any], where: str, notes: list[Note]) -> None:
    scope = out.pop("path")
    if not isinstance(scope, str) or scope.strip() in ("", ".", "./", "/") or "file_pattern" in out:
        notes.append(("param_dropped", f"{where}: search scope {scope!r} dropped"))
        return
    scope = scope.strip().removeprefix("./")
    last = scope.rstrip("/").rsplit("/", 1)[-1]
    glob = scope if _GLOB.search(scope) or "." in last else scope.rstrip("/") + "/**"
    out["file_pattern"] = glob
    notes.append(("param_alias", f"{where}: search scope {scope!r} → file_pattern {glob!r}"))


def _lines(out: dict[str, Any], where: str, notes: list[Note]) -> None:
    value = out.pop("lines")
    nums = [int(n) for n in re.findall(r"\d+", str(value))][:2] if not isinstance(value, bool) else []
    if nums:
        out.setdefault("start_line", nums[0])
        if len(nums) > 1:
            out.setdefault("end_line", nums[1])
        notes.append(("param_alias", f"{where}: lines {value!r} → start_line/end_line"))
    else:
        notes.append(("param_dropped", f"{where}: lines {value!r} is not a line range"))


def _command_to_target(out: dict[str, Any], where: str, notes: list[Note]) -> None:
    command = out.pop("command")
    text = " ".join(map(str, command)) if isinstance(command, list) else str(command)
    paths = [t for t in _TEST_PATH.findall(text) if t and not t.startswith("-")]
    if paths and "target" not in out:
        out["target"] = " ".join(paths)
        notes.append(("param_alias", f"{where}: command {text[:80]!r} → target {out['target']!r}"))
    else:
        notes.append(("param_dropped", f"{where}: command {text[:80]!r} dropped; run uses the configured tests"))


def _coerce(
    out: dict[str, Any], key: str, fields: _Fields, where: str, notes: list[Note], errors: list[str]
) -> bool:
    value = out[key]
    if key in fields.ranges:
        n = _int(value)
        if n is None:
            errors.append(f"{where}: parameter {key!r} must be a whole number, got {value!r:.60}")
            return False
        low, high = fields.ranges[key]
        clamped = n if high is None else min(high, n)
        clamped = clamped if low is None else max(low, clamped)
        if clamped != value:
            notes.append(("value_coerced", f"{where}: {key} {value!r:.40} → {clamped}"))
        out[key] = clamped
        return True
    if key in fields.text or key in fields.raw:
        text = _text(value, key, raw=key in fields.raw)
        if text is None:
            errors.append(f"{where}: parameter {key!r} must be a string, got {type(value).__name__}")
            return False
        if key not in fields.raw:
            text = text.strip()
        if not isinstance(value, str):
            notes.append(("value_coerced", f"{where}: {key} {type(value).__name__} → string"))
        if not text and key not in fields.raw and key not in fields.required:
            del out[key]  # an empty optional value means "not given"
            return True
        out[key] = text
    return True


def _text(value: Any, key: str, *, raw: bool) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        if key == "path":
            return str(value[0]) if value else ""
        return ("\n" if raw else " ").join(map(str, value))
    if isinstance(value, dict) and key == "content":  # a JSON file written as an object
        return json.dumps(value, indent=2, ensure_ascii=False)
    return None


def _enum(out: dict[str, Any], tool: str, key: str, where: str, notes: list[Note], errors: list[str]) -> bool:
    value = out[key]
    found = resolve_enum(tool, key, value) if isinstance(value, str) and value else None
    if found is None:
        choices = ", ".join(enum_choices(tool, key))
        errors.append(f"{where}: {key} {str(value)[:60]!r} is not valid; use one of: {choices}")
        return False
    canon, how = found
    if how != "exact":
        notes.append(("enum_corrected", f"{where}: {key} {value!r} → {canon!r}"))
    out[key] = canon
    return True


def _infer_file_action(params: dict[str, Any]) -> str:
    if "content" in params:
        return "write"
    if "search" in params or "replace" in params:
        return "edit"
    path = params.get("path", ".")
    if "start_line" in params or "end_line" in params:
        return "read"
    return "list" if path in (".", "") or str(path).endswith("/") else "read"


# --- whole plans ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class CheckedPlan:
    steps: list[Step]
    notes: list[Note]
    errors: list[str]


def check_plan(raw_steps: Sequence[RawStep]) -> CheckedPlan:
    notes: list[Note] = []
    errors: list[str] = []
    checked: list[tuple[int, Checked]] = []
    for position, raw in enumerate(raw_steps, start=1):
        if position > MAX_STEPS:
            notes.append(("step_dropped", f"steps after {MAX_STEPS} dropped ({len(raw_steps)} given)"))
            break
        if not raw.complete:
            notes.append(("truncated_dropped", f"step {position}: cut off by the token limit; not used"))
            errors.append(
                f"step {position}: your reply was cut off by the token limit inside this step; "
                "send a shorter plan with fewer or smaller steps"
            )
            continue
        result = check_step(raw.data, position)
        notes.extend(result.notes)
        errors.extend(result.errors)
        checked.append((position, result))

    valid = [(p, c) for p, c in checked if c.params is not None]
    numbers = [c.number for _, c in valid if c.number is not None]
    # 0-based numbering (0, 1, 2 with deps [0]) is common; shift it rather than treat 0 as unknown.
    shift = 1 if numbers and min(numbers) == 0 else 0
    if shift:
        notes.append(("step_renumbered", "steps were numbered from 0; renumbered from 1"))
    steps: list[Step] = []
    for position, c in valid:
        assert c.params is not None
        number = c.number + shift if c.number is not None else position
        deps = tuple(d + shift for d in c.deps if d + shift >= 1)
        steps.append(Step(step=number, tool=c.tool, parameters=c.params, dependencies=deps, description=c.description))
    for position, c in checked:
        if c.params is None and steps:
            notes.append(("step_dropped", f"step {position}: invalid, left out ({c.errors[0] if c.errors else ''})"))
    return CheckedPlan(steps, notes, errors)

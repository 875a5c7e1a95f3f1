"""What is wrong with a `.equitr.toml`: `Problem`, the errors that carry them, and the translation of TOML
and pydantic errors into problems that each name their dotted key, the value found and what is allowed.

The schema itself is `equitr.config.repo`; this module only needs its root model class, passed in, so that
it can say which keys a section has and what each allows.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic import BaseModel

from equitr.errors import closest
from equitr.redact import redact
from equitr.sandbox.policy import BRANCH_PREFIX

FILENAME = ".equitr.toml"

# Keys people look for that are deliberately not configurable, with the reason shown instead of "unknown key".
FIXED_KEYS: dict[str, str] = {
    # The branch prefix is a safety boundary, not a preference: the push guard only ever pushes `equitr/…`
    # branches (so the agent's token can never move `main` or a person's branch), branch protection rules
    # can target `equitr/*`, and a re-run finds its branch `equitr/issue-N` again instead of opening a second.
    "fix.branch_prefix": f"equitr always works on branches named `{BRANCH_PREFIX}…` (e.g. `{BRANCH_PREFIX}issue-12`); "
    "the prefix is a safety boundary and cannot be changed",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file. `key` is dotted (`budget.per_job_usd`, `schedule.tasks[0].name`);
    empty for file-level problems such as a TOML syntax error."""

    key: str
    message: str  # what is wrong, one sentence without the key
    value: str | None = None  # the value found, rendered as TOML, shortened
    allowed: str | None = None  # what would be accepted
    closest: str | None = None  # for an unknown key: the valid key it most likely meant
    suggestion: str | None = None  # e.g. the closest valid model names
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"`{self.key}`" if self.key else FILENAME
        if self.line is not None:
            where += f" (line {self.line}" + (f", column {self.column})" if self.column is not None else ")")
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (found `{self.value}`)"
        text += "."
        if self.closest:
            text += f" Did you mean `{self.closest}`?"
        if self.suggestion:
            text += " " + self.suggestion.rstrip() + ("" if self.suggestion.rstrip().endswith((".", "?")) else ".")
        if self.allowed:
            text += f" Allowed: {self.allowed.rstrip('.')}."
        return text


def syntax_problem(exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    """A TOML syntax error as a file-level problem, with its line, column and the offending line."""
    # Python 3.11/3.12 only put the position in the message: "Invalid value (at line 3, column 15)".
    message = str(exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line, column = int(found.group(1)), int(found.group(2))
        message = message[: found.start()]
    elif message.endswith("(at end of document)"):
        message = message.removesuffix("(at end of document)").rstrip() + " at the end of the file"
        line = text.count("\n") + 1
    source = text.splitlines()[line - 1] if line and 0 < line <= len(text.splitlines()) else None
    return Problem(
        "",
        f"TOML syntax error: {message[:1].lower()}{message[1:]}",
        value=_shorten(source.strip()) if source and source.strip() else None,
        line=line,
        column=column,
    )


def validation_problems(exc: pydantic.ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error of validating against `root` (the whole file's model)."""
    return [_problem(err, root) for err in exc.errors()]


def _problem(err: Mapping[str, Any], root: type[BaseModel]) -> Problem:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    key = _dotted(loc)
    kind = str(err["type"])
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = _shorten(toml_value(err["input"])) if kind != "missing" else None
    if kind == "extra_forbidden":
        section_keys = _section_keys(loc[:-1], root)
        if key in FIXED_KEYS:
            return Problem(key, FIXED_KEYS[key] + "; remove this key", value=value)
        where = _dotted(loc[:-1])
        near = closest(str(loc[-1]), section_keys, cutoff=60)
        meant = near[0] if near else None
        valid = ", ".join(section_keys)
        what = f"sections are {valid}" if not where else f"keys in [{where}] are {valid}"
        return Problem(
            key,
            "is not a section equitr knows" if not where else "is not a key equitr knows",
            value=None if not where else value,
            closest=(f"{where}.{meant}" if where and meant else meant),
            allowed=f"the {what}",
        )
    field = _field_info(loc, root)
    allowed = None
    if field is not None and isinstance(field.json_schema_extra, dict):
        allowed = str(field.json_schema_extra.get("allowed"))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Problem(key, "must be a table", value=value, allowed=f"a [{key}] table" if "[" not in key else None)
    if kind == "missing":
        return Problem(key, "is required", allowed=allowed)
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", '"')
        return Problem(
            key, "is not one of the choices", value=value, allowed=f"one of {choices}" if choices else allowed
        )
    if kind == "model_name":
        unknown = str(ctx.get("message", "")).startswith("Unknown")
        message = "is not a model equitr knows" if unknown else "is not a valid model name"
        return Problem(key, message, value=value, suggestion=str(ctx.get("hint") or "") or None, allowed=allowed)
    if kind == "path_pattern":
        return Problem(key, str(ctx.get("message", "is not valid")), value=value, allowed=allowed)
    if kind == "path_glob":
        return Problem(key, "is not a pattern relative to the repository root", value=value, allowed=allowed)
    if kind == "cron":
        return Problem(key, "is not a cron expression", value=value, allowed=allowed)
    return Problem(key, _what_is_wrong(kind), value=value, allowed=allowed)


def _what_is_wrong(kind: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "has the wrong type"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "is out of range"
    if kind in ("string_too_short", "too_short"):
        return "is too short"
    if kind in ("string_too_long", "too_long"):
        return "is too long"
    if kind == "finite_number":
        return "is not a finite number"
    return "is not valid"


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(loc: Sequence[str | int], root: type[BaseModel]) -> tuple[type[BaseModel] | None, Any]:
    """The model class reached by `loc` from `root`, and the last field info on the way."""
    model: type[BaseModel] | None = root
    field: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None, None
        field = model.model_fields[part]
        model = model_in(field.annotation)
    return model, field


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model inside a field's annotation (`X`, `X | None`, `list[X]`), if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def _field_info(loc: Sequence[str | int], root: type[BaseModel]) -> Any:
    return _walk(loc, root)[1]


def _section_keys(loc: Sequence[str | int], root: type[BaseModel]) -> list[str]:
    model = _walk(loc, root)[0]
    return list(model.model_fields) if model is not None else []


def toml_value(value: Any) -> str:
    """`value` as it would be written in TOML (for messages and the reference)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _shorten(text: str, limit: int = 80) -> str:
    # Redact before cutting: a secret cut in half no longer matches its exact value or its pattern.
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

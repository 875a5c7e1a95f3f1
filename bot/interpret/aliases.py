"""Names small models use instead of ours: tool names, parameter names and enum values.

Everything is looked up by a normalised key (lower snake case), so `searchType`, `search-type` and
`SEARCH_TYPE` are one name. Close misspellings of tool names and enum values are matched with rapidfuzz.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args, get_origin

from equitr.errors import closest
from equitr.tools.registry import SPECS, TOOL_NAMES

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_key(key: str) -> str:
    return _NON_WORD.sub("_", _CAMEL.sub("_", key.strip()).lower()).strip("_")


# --- tools ----------------------------------------------------------------------------------------------

# Every tool's names, in the tools' order (a fuzzy match that ties goes to the earlier one).
_TOOLS: dict[str, tuple[str, dict[str, str]]] = {
    name: (spec.name, dict(alias.implied))
    for spec in SPECS.values()
    for alias in spec.aliases
    for name in alias.names.split()
}


@dataclass(frozen=True, slots=True)
class ToolMatch:
    tool: str
    implied: dict[str, str] = field(default_factory=dict)
    how: str = "exact"  # exact | alias | fuzzy


def resolve_tool(name: str, *, fuzzy: bool = True) -> ToolMatch | None:
    raw = name.strip()
    # `functions.search` and `Search` are the tool's own name; `search_tool` is an alias of it.
    key = normalise_key(raw.rsplit(".", 1)[-1] if "." in raw else raw)
    if key in TOOL_NAMES:
        return ToolMatch(_TOOLS[key][0])
    if key not in _TOOLS:
        key = re.sub(r"^tool_|_tool$", "", key)
    if not key:
        return None
    if key in _TOOLS:
        tool, implied = _TOOLS[key]
        return ToolMatch(tool, dict(implied), "alias")
    if fuzzy and len(key) >= 4:
        best = closest(key, _TOOLS, cutoff=80, scorer="ratio")
        if best:
            tool, implied = _TOOLS[best[0]]
            return ToolMatch(tool, dict(implied), "fuzzy")
    return None


# --- parameters -----------------------------------------------------------------------------------------

_STEP_KEYS = {
    "step": "step id step_number step_id number index order num step_no",
    "dependencies": "dependencies depends_on depends deps dependency after requires needs prerequisites "
    "wait_for waits_for depend_on",
    "description": "description reason why purpose thought explanation goal rationale summary title task comment note "
    "instruction instructions details change_description what_to_change desc",
    "tool": "tool tool_name name function function_name recipient_name tool_type",
    "parameters": "parameters params arguments args action_input input tool_input kwargs inputs parameter "
    "argument tool_args tool_arguments",
}
STEP_KEYS: dict[str, str] = {a: canon for canon, names in _STEP_KEYS.items() for a in names.split()}

PARAM_ALIASES: dict[str, dict[str, str]] = {
    tool: {alias: canon for canon, names in spec.param_aliases.items() for alias in names.split()}
    for tool, spec in SPECS.items()
}


def positional_names(tool: str, implied: dict[str, str]) -> tuple[str, ...]:
    """The parameter names of positional arguments in Python-call syntax, by tool and implied action."""
    positional = SPECS[tool].positional
    return positional.get(implied.get("action", ""), positional.get("", ()))


# --- enum values ----------------------------------------------------------------------------------------

# By (tool, parameter): every name models use for each value.
ENUM_ALIASES: dict[tuple[str, str], dict[str, str]] = {
    (tool, param): {alias: canon for canon, names in table.items() for alias in names.split()}
    for tool, spec in SPECS.items()
    for param, table in spec.enum_aliases.items()
}


def resolve_enum(tool: str, param: str, value: str) -> tuple[str, str] | None:
    """(canonical value, how) where how is exact | alias | fuzzy; None when nothing is close."""
    table = ENUM_ALIASES[tool, param]
    key = normalise_key(value)
    if key in table:
        canon = table[key]
        return canon, ("exact" if value == canon else "alias")
    if len(key) >= 3:
        best = closest(key, table, cutoff=75, scorer="ratio")
        if best:
            return table[best[0]], "fuzzy"
    return None


def enum_choices(tool: str, param: str) -> tuple[str, ...]:
    """The valid values in the schema's own order, for error messages."""
    annotation = SPECS[tool].params.model_fields[param].annotation
    return get_args(annotation) if get_origin(annotation) is Literal else ()

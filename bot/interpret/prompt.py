"""The planning prompt, its JSON schema, and the re-ask message.

Small local models have small contexts, so the system prompt is short: the four tools, their parameters,
the output shape and one example. The schema is hand-written (not generated from the pydantic models) to
stay compact and free of `$ref`, which several grammar converters (llama.cpp, Ollama) handle poorly.
"""

from __future__ import annotations

from typing import Any

from equitr.models.types import Message

__all__ = ["PLAN_JSON_SCHEMA", "RESPONSE_FORMAT", "plan_messages", "reask_messages", "tool_params"]

_STR: dict[str, Any] = {"type": "string"}
_INT1: dict[str, Any] = {"type": "integer", "minimum": 1}

_PARAMS: dict[str, dict[str, Any]] = {
    "search": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1},
            "search_type": {"type": "string", "enum": ["text", "regex", "filename", "symbol"]},
            "file_pattern": _STR,
            "max_results": _INT1,
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "file": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["read", "list", "write", "edit"]},
            "path": {"type": "string", "minLength": 1},
            "start_line": _INT1,
            "end_line": _INT1,
            "content": _STR,
            "search": _STR,
            "replace": _STR,
        },
        "required": ["action", "path"],
        "additionalProperties": False,
    },
    "git": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["status", "diff", "log", "commit"]},
            "path": _STR,
            "message": _STR,
            "max_count": _INT1,
        },
        "required": ["action"],
        "additionalProperties": False,
    },
    "run": {
        "type": "object",
        "properties": {"target": _STR},
        "additionalProperties": False,
    },
}


def tool_params(tool: str, *, description: bool = False) -> dict[str, Any]:
    """The JSON schema of one tool's parameters, for native tool calling; with `description`, an optional
    instruction for whoever carries the step out (a worker, for an edit without search/replace)."""
    schema = {**_PARAMS[tool], "properties": dict(_PARAMS[tool]["properties"])}
    if description:
        schema["properties"]["description"] = _STR
    return schema


def _step_schema(tool: str) -> dict[str, Any]:
    # One branch per tool ties `tool` to its parameters, so a grammar-constrained model cannot mix them.
    return {
        "type": "object",
        "properties": {
            "step": _INT1,
            "tool": {"type": "string", "enum": [tool]},
            "parameters": _PARAMS[tool],
            "dependencies": {"type": "array", "items": _INT1},
            # What the step is for; for an edit, the instruction the worker carries out. No maxLength: llama.cpp
            # turns one into a grammar it cannot parse (the validator cuts descriptions at 2,000 characters).
            "description": _STR,
        },
        "required": ["step", "tool", "parameters", "dependencies"],
        "additionalProperties": False,
    }


PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "execution_steps": {
            "type": "array",
            "minItems": 1,
            "items": {"anyOf": [_step_schema(tool) for tool in ("search", "file", "git", "run")]},
        }
    },
    "required": ["execution_steps"],
    "additionalProperties": False,
}

# Ready to pass as an OpenAI-compatible `response_format`; not strict, since strict mode would force every
# optional parameter to be present.
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "execution_plan", "schema": PLAN_JSON_SCHEMA, "strict": False},
}

_SYSTEM = """\
You plan work in a code repository. Reply with ONLY a JSON object, no prose:
{"execution_steps": [{"step": 1, "tool": "...", "parameters": {...}, "dependencies": [], "description": "..."}]}

Tools and parameters:
- search: query (required), search_type: text|regex|filename|symbol (default text), file_pattern (glob), \
max_results
- file: action: read|list|write|edit (required), path (required), start_line, end_line (read), content \
(write), search + replace (edit: exact old text, new text)
- git: action: status|diff|log|commit (required), path, message (commit), max_count
- run: target (optional test path); runs the repository's tests

Rules: number steps from 1; "dependencies" lists step numbers that must finish first; use only these \
tools and parameter names; keep the plan short. Each step's "description" says what it is for. For an edit \
step, give the path and a description that tells the programmer exactly what to change and why (the \
function, what is wrong, the fix); they see the file. Give search and replace yourself only when you know \
the exact lines. If the code to change is not shown yet, plan only reads and searches: you plan again \
with their results.

Example:
{"execution_steps": [\
{"step": 1, "tool": "file", "parameters": {"action": "read", "path": "app/dates.py"}, "dependencies": [], \
"description": "read the function the traceback ends in"}, \
{"step": 2, "tool": "file", "parameters": {"action": "edit", "path": "app/dates.py"}, "dependencies": [1], \
"description": "in week_start(), subtract date.weekday() days instead of adding them"}]}"""

# A reply echoed back to the model is capped so a re-ask never overflows a small context window.
_MAX_ECHO = 2000


def plan_messages(request: str, *, repo_map: str = "") -> list[Message]:
    """The messages that ask a model for an `execution_steps` plan for `request`."""
    system = _SYSTEM
    if repo_map.strip():
        system += "\n\nRepository files:\n" + repo_map.strip()
    return [Message("system", system), Message("user", request.strip())]


def reask_messages(previous: list[Message], reply_text: str, error: str) -> list[Message]:
    """`previous` plus the model's unusable reply and a precise description of what was wrong with it."""
    echoed = reply_text if len(reply_text) <= _MAX_ECHO else reply_text[:_MAX_ECHO] + "\n…(cut)"
    correction = (
        f"Your reply could not be used: {error.strip()}\n"
        "Reply again with ONLY the corrected JSON object "
        '{"execution_steps": [...]}, using only the tools and parameter names listed above.'
    )
    return [*previous, Message("assistant", echoed), Message("user", correction)]

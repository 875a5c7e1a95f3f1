"""The planning prompt, its JSON schema, and the re-ask message.

Small local models have small contexts, so the system prompt is short: the tools, their parameters, the
output shape and one example. Each tool's line and schema fragment come from its `ToolSpec` (hand-written
there, not generated from the pydantic model, to stay compact and free of `$ref`, which several grammar
converters, llama.cpp's and Ollama's, handle poorly).
"""

from __future__ import annotations

from typing import Any

from equitr.models.types import Message
from equitr.tools.registry import SPECS

__all__ = ["PLAN_JSON_SCHEMA", "RESPONSE_FORMAT", "plan_messages", "reask_messages", "tool_params"]

_STR: dict[str, Any] = {"type": "string"}
_INT1: dict[str, Any] = {"type": "integer", "minimum": 1}

def tool_params(tool: str, *, description: bool = False) -> dict[str, Any]:
    """The JSON schema of one tool's parameters, for native tool calling; with `description`, an optional
    instruction for whoever carries the step out (a worker, for an edit without search/replace)."""
    fragment = SPECS[tool].schema
    schema = {**fragment, "properties": dict(fragment["properties"])}
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
            "parameters": SPECS[tool].schema,
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
            "items": {"anyOf": [_step_schema(tool) for tool in SPECS]},
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

_TOOL_LINES = "\n".join(f"- {spec.name}: {spec.prompt_line}" for spec in SPECS.values())

_SYSTEM = """\
You plan work in a code repository. Reply with ONLY a JSON object, no prose:
{"execution_steps": [{"step": 1, "tool": "...", "parameters": {...}, "dependencies": [], "description": "..."}]}

Tools and parameters:
TOOL_LINES

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
"description": "in week_start(), subtract date.weekday() days instead of adding them"}]}""".replace(
    "TOOL_LINES", _TOOL_LINES, 1
)

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

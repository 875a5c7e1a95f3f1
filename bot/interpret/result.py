"""What the interpretation layer hands back: the validated steps and the record of every repair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from equitr.tools.registry import Step

# The closed set of repair kinds. Each is counted in the job's cost summary, so keep it small and stable.
REPAIR_KINDS: frozenset[str] = frozenset(
    {
        "think_stripped",  # <think>/<thinking>/<reasoning> removed, or the plan read from the thinking text
        "extracted_from_prose",  # JSON found inside surrounding prose
        "fenced_block",  # JSON taken from a ``` fenced block
        "tool_call_tag",  # <tool_call>…</tool_call>
        "xml_function",  # <function=…><parameter=…> or <invoke name=…>
        "python_call",  # search(query="foo")
        "json_repaired",  # broken JSON fixed by json-repair
        "truncated_dropped",  # a step that may have been cut off by the token limit was not executed
        "tool_alias",  # grep → search, read_file → file/read, or the tool inferred from its parameters
        "param_alias",  # pattern → query, filename → path, …
        "param_dropped",  # an unknown parameter removed
        "value_coerced",  # "3" → 3, 0 → 1, a list → a string, …
        "enum_corrected",  # list_structure → list, filename search → file_pattern, close misspellings
        "step_dropped",  # an invalid step left out while others were usable
        "step_renumbered",  # duplicate or missing step numbers
        "dependency_repaired",  # unknown/self dependencies dropped, cycles broken
        "plan_completed",  # steps added because the plan ignored part of the request
        "plan_replaced",  # the plan ignored the request entirely
        "fallback",  # the keyword planner built the plan
    }
)


@dataclass(frozen=True, slots=True)
class Repair:
    kind: str
    detail: str
    model: str = ""

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "detail": self.detail, "model": self.model}


@dataclass(frozen=True, slots=True)
class Interpretation:
    """A validated plan. `errors` are written for the model, to be reflected back in a re-ask."""

    steps: tuple[Step, ...]
    repairs: tuple[Repair, ...] = ()
    fallback: bool = False
    errors: tuple[str, ...] = ()
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [step_json(s) for s in self.steps],
            "repairs": [r.to_json() for r in self.repairs],
            "fallback": self.fallback,
            "errors": list(self.errors),
            "truncated": self.truncated,
        }


def step_json(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {
        "step": step.step,
        "tool": step.tool,
        "parameters": step.parameters.model_dump(mode="json", exclude_none=True),
        "dependencies": list(step.dependencies),
    }
    if step.description:
        out["description"] = step.description
    return out


_BULK = ("content", "search", "replace")  # the text of a write or an edit: never on one line


def arguments(step: Step, *, width: int = 60, defaults: bool = False) -> str:
    """A step's parameters on one line (`path='a.py', start_line=3`), each value cut to `width` characters,
    without the text of a write or an edit; those left at their default only when `defaults`."""
    data = step.parameters.model_dump(mode="json", exclude_none=True, exclude_defaults=not defaults)
    return ", ".join(f"{k}={str(v)[:width]!r}" for k, v in data.items() if k not in _BULK)


def describe(step: Step) -> str:
    """A step as the agent's prompts, logs and trajectory name it: `file(action='read', path='a.py')`."""
    return f"{step.tool}({arguments(step)})"

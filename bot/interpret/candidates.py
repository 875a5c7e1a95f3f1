"""Find the plan in a reply: JSON candidates in priority order, each reduced to its raw step objects."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from equitr.interpret.aliases import STEP_KEYS, normalise_key, resolve_tool
from equitr.interpret.callsyntax import python_calls, xml_calls
from equitr.interpret.repair import canonical, complete_objects, parse
from equitr.interpret.scan import scan, top_level
from equitr.models.types import ToolCall


@dataclass(frozen=True, slots=True)
class RawStep:
    data: Any
    complete: bool = True  # False: written after the token limit cut in, may be cut off itself


@dataclass(frozen=True, slots=True)
class Candidate:
    steps: tuple[RawStep, ...]
    found: tuple[tuple[str, str], ...] = ()  # (repair kind, detail): how the plan was dug out


_PLAN_KEYS = frozenset(
    [
        "execution_steps",
        "steps",
        "plan",
        "tool_calls",
        "calls",
        "actions",
        "tasks",
        "execution_plan",
        "function_calls",
        "plan_steps",
        "tool_uses",
    ]
)
_STEPISH = frozenset({"tool", "action_input"})
_PARAMISH = frozenset({"query", "target", "pattern", "search_term"})


def _keys(d: dict[Any, Any]) -> set[str]:
    return {normalise_key(k) for k in d if isinstance(k, str)}


def _is_step(d: dict[Any, Any]) -> bool:
    keys = _keys(d)
    if any(STEP_KEYS.get(k) == "tool" for k in keys) or keys & _STEPISH:
        return True
    if keys & _PLAN_KEYS:
        return False
    # A bare parameter object: the tool is inferred from its keys later.
    return bool(keys & _PARAMISH) or ("action" in keys and bool(keys - {"action"}))


def find_steps(value: Any, depth: int = 0) -> list[Any] | None:
    """The raw step objects in any accepted plan shape, or None when `value` holds no plan."""
    if depth > 4:
        return None
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict) and not _is_step(item):
                inner = find_steps(item, depth + 1)
                items.extend(inner if inner is not None else [item])
            else:
                items.append(item)
        return items if any(isinstance(i, dict) for i in items) else None
    if not isinstance(value, dict):
        return None
    if _is_step(value):
        return [value]
    for key, inner in value.items():
        if isinstance(key, str) and normalise_key(key) in _PLAN_KEYS:
            if isinstance(inner, str):
                parsed = parse(inner)
                inner = parsed[0] if parsed else None
            found = find_steps(inner, depth + 1)
            if found is not None:
                return found
    if len(value) == 1:  # {"response": {...}} and similar wrappers
        return find_steps(next(iter(value.values())), depth + 1)
    return None


def _from_json(text: str, *, truncated: bool) -> tuple[list[RawStep], bool] | None:
    """Raw steps of one JSON text, and whether it needed repair."""
    parsed = parse(text)
    if parsed is None:
        return None
    value, repaired = parsed
    steps = find_steps(value)
    if not steps:
        return None
    if not (truncated and repaired):
        return [RawStep(s) for s in steps], repaired
    done = complete_objects(text)
    return [RawStep(s, isinstance(s, dict) and canonical(s) in done) for s in steps], repaired


def _merge(parts: Sequence[tuple[list[RawStep], bool]]) -> tuple[list[RawStep], bool]:
    """Several JSON blocks: single steps are joined; of several whole plans the last one wins (revisions)."""
    plans = [p for p in parts if len(p[0]) > 1]
    if plans and len(plans) == len(parts):
        return plans[-1]
    steps: list[RawStep] = []
    seen: set[str] = set()
    for raw, _ in parts:
        for s in raw:
            key = canonical(s.data)
            if key not in seen:
                seen.add(key)
                steps.append(s)
    return steps, any(r for _, r in parts)


def native(calls: Sequence[ToolCall], *, truncated: bool) -> Candidate | None:
    steps: list[RawStep] = []
    found: list[tuple[str, str]] = []
    for call in calls:
        strict = True
        args: Any = {}
        if call.arguments.strip():
            try:
                args = json.loads(call.arguments)
            except (ValueError, RecursionError):
                strict = False
                parsed = parse(call.arguments)
                args = parsed[0] if parsed else {}
                found.append(("json_repaired", f"arguments of native tool call {call.name!r}"))
        complete = strict or not truncated
        inner = find_steps(args) if resolve_tool(call.name) is None else None
        if inner:  # a `submit_plan`-style call whose arguments are the whole plan
            steps.extend(RawStep(s, complete) for s in inner)
        else:
            steps.append(RawStep({"tool": call.name, "parameters": args}, complete))
    return Candidate(tuple(steps), tuple(found)) if steps else None


_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.IGNORECASE | re.DOTALL)
# The info string is bounded: unbounded, each "```" of a reply with no newline rescanned the rest of it.
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]{0,200}\n(.*?)(```|\Z)", re.DOTALL)
_PROSE = re.compile(r"\w")
# A plan has a handful of steps; each tag or fence costs a JSON repair, so a reply of thousands is cut here.
MAX_BLOCKS = 64


def _block(inner: str, *, truncated: bool, closed: bool) -> tuple[list[RawStep], bool] | None:
    """One tag's or fence's content: XML calls, JSON, or Python calls."""
    calls = xml_calls(inner)
    if calls:
        return [RawStep(c.data, c.complete or not truncated) for c in calls], False
    got = _from_json(inner, truncated=truncated)
    if got is not None:
        return got
    pycalls = python_calls(inner)
    if pycalls:
        return [RawStep(c.data, c.complete and (closed or not truncated)) for c in pycalls], False
    return None


def _prose_around(text: str, spans: Sequence[tuple[int, int]]) -> bool:
    pos = 0
    for start, end in spans:
        if _PROSE.search(text, pos, start):
            return True
        pos = end
    return bool(_PROSE.search(text, pos))


def from_text(text: str, *, truncated: bool) -> Iterator[Candidate]:
    """Candidates of a reply text, best first: tags, fences, XML, Python calls, JSON in prose, whole text."""
    if not text.strip():
        return
    tags = [
        (m.group(1), m.group(0).lower().endswith("</tool_call>"))
        for m in islice(_TOOL_CALL.finditer(text), MAX_BLOCKS)
    ]
    parts = [p for inner, closed in tags if (p := _block(inner, truncated=truncated, closed=closed))]
    if parts:
        yield _candidate(parts, "tool_call_tag", f"{len(tags)} <tool_call> tag(s)")

    if "```" in text:
        fences = [(m.group(2), bool(m.group(3))) for m in islice(_FENCE.finditer(text), MAX_BLOCKS)]
        parts = [p for inner, closed in fences if (p := _block(inner, truncated=truncated, closed=closed))]
        if parts:
            yield _candidate(parts, "fenced_block", f"{len(parts)} fenced block(s)")

    xml = xml_calls(text)
    if xml:
        yield Candidate(
            tuple(RawStep(c.data, c.complete or not truncated) for c in xml),
            (("xml_function", f"{len(xml)} XML function call(s)"),),
        )

    pycalls = python_calls(text)
    if pycalls:
        yield Candidate(
            tuple(RawStep(c.data) for c in pycalls), (("python_call", f"{len(pycalls)} Python-style call(s)"),)
        )

    result = scan(text)
    spans = top_level(result)
    if result.unclosed:  # JSON cut off (or never closed) after the last balanced span
        spans.append((result.unclosed[0], len(text)))
    parts = []
    used: list[tuple[int, int]] = []
    for start, end in spans:
        got = _from_json(text[start:end], truncated=truncated)
        if got is not None:
            parts.append(got)
            used.append((start, end))
    if parts:
        if _prose_around(text, used):
            yield _candidate(parts, "extracted_from_prose", f"{len(parts)} JSON span(s) inside prose")
        else:
            yield _candidate(parts, "", "")

    whole = _from_json(text, truncated=truncated)
    if whole is not None:
        yield _candidate([whole], "extracted_from_prose", "the whole reply read as JSON")


def _candidate(parts: Sequence[tuple[list[RawStep], bool]], kind: str, detail: str) -> Candidate:
    steps, repaired = _merge(parts)
    found: list[tuple[str, str]] = [(kind, detail)] if kind else []
    if repaired:
        found.append(("json_repaired", "broken JSON repaired"))
    return Candidate(tuple(steps), tuple(found))

"""Parse JSON strictly, else repair it with json-repair; and tell which objects were complete."""

from __future__ import annotations

import json
from typing import Any

import json_repair

from equitr.interpret.scan import scan

# json-repair is slow on long unterminated strings and super-linear in nesting depth ("{" * 4096 takes
# seconds); nothing a planner writes is this long or this deep.
MAX_REPAIR_CHARS = 60_000
MAX_REPAIR_DEPTH = 32


def parse(text: str) -> tuple[Any, bool] | None:
    """(value, repaired) or None when nothing JSON-like could be recovered."""
    s = text.strip()
    if not s:
        return None
    try:
        return json.loads(s), False
    except (ValueError, RecursionError):
        pass
    if len(s) > MAX_REPAIR_CHARS or nesting(s) > MAX_REPAIR_DEPTH:
        return None
    try:
        value = json_repair.loads(s)
    except Exception:  # json-repair raises assorted errors (RecursionError on deep nesting) on garbage
        return None
    if value is None or value == "" or value == [] or value == {}:
        return None
    return value, True


def nesting(text: str) -> int:
    """The deepest bracket nesting in `text` outside JSON strings, in one linear pass."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]" and depth:
            depth -= 1
    return deepest


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def complete_objects(text: str) -> frozenset[str]:
    """Canonical forms of every `{…}` closed in `text` itself (not closed off by a repair).

    A step of a truncated reply is executed only when it is one of these: its values were all written.
    """
    found: set[str] = set()
    for start, end, _ in scan(text).closed:
        if text[start] != "{":
            continue
        parsed = parse(text[start:end])
        if parsed is not None and isinstance(parsed[0], dict):
            found.add(canonical(parsed[0]))
    return frozenset(found)

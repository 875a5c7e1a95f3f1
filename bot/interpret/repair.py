"""Parse JSON strictly, else repair it with json-repair; and tell which objects were complete."""

from __future__ import annotations

import json
from typing import Any

import json_repair

from bot.interpret.scan import scan

# json-repair is slow on long unterminated strings; nothing a planner writes is this long.
MAX_REPAIR_CHARS = 60_000


def parse(text: str) -> tuple[Any, bool] | None:
    """(value, repaired) or None when nothing JSON-like could be recovered."""
    s = text.strip()
    if not s:
        return None
    try:
        return json.loads(s), False
    except (ValueError, RecursionError):
        pass
    if len(s) > MAX_REPAIR_CHARS:
        return None
    try:
        value = json_repair.loads(s)
    except Exception:  # json-repair raises assorted errors (RecursionError on deep nesting) on garbage
        return None
    if value is None or value == "" or value == [] or value == {}:
        return None
    return value, True


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

"""Bracket scanning that respects JSON and Python string literals, for JSON embedded in prose."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIGNIFICANT = re.compile(r"[{}\[\]()\"'\\]")
_OPEN = {"{": "}", "[": "]", "(": ")"}
_CLOSE = {"}": "{", "]": "[", ")": "("}
# A single quote starts a string only where a JSON value or key may start; elsewhere it is an apostrophe.
_SQ_STARTS = frozenset("{[(,:=")


@dataclass(frozen=True, slots=True)
class Scan:
    closed: tuple[tuple[int, int, int], ...]  # (start, end, depth) of every balanced span, any depth
    unclosed: tuple[int, ...]  # start offsets of openers never closed, outermost first


def _prev_char(text: str, pos: int) -> str:
    i = pos - 1
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return text[i] if i >= 0 else ""


def scan(text: str, *, brackets: str = "{[") -> Scan:
    """Find balanced spans of the given opening brackets. Quotes count only inside brackets."""
    closed: list[tuple[int, int, int]] = []
    stack: list[tuple[str, int]] = []
    quote = ""
    skip = -1
    for match in _SIGNIFICANT.finditer(text):
        pos = match.start()
        if pos < skip:
            continue
        ch = match.group()
        if quote:
            if ch == "\\":
                skip = pos + 2
            elif ch == quote:
                quote = ""
            continue
        if ch in _OPEN:
            if ch in brackets:
                stack.append((ch, pos))
        elif ch in _CLOSE:
            opener = _CLOSE[ch]
            if opener not in brackets:
                continue
            # Pop to the matching opener; a stray closer with no opener is prose and ignored.
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == opener:
                    del stack[i + 1 :]
                    _, start = stack.pop()
                    closed.append((start, pos + 1, len(stack)))
                    break
        elif (stack and ch == '"') or (stack and ch == "'" and _prev_char(text, pos) in _SQ_STARTS):
            quote = ch
    return Scan(tuple(closed), tuple(start for _, start in stack))


def top_level(result: Scan) -> list[tuple[int, int]]:
    return sorted((s, e) for s, e, d in result.closed if d == 0)

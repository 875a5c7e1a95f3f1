"""Separate a reply's answer from its reasoning (`<think>`, `<thinking>`, `<reasoning>` blocks)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"<\s*(/?)\s*(?:think|thinking|reasoning)\b[^<>]{0,200}>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Split:
    answer: str
    thinking: str
    stripped: bool  # any thinking tag was found


def split_thinking(text: str) -> Split:
    """Answer text outside thinking blocks, and the thinking text.

    An unclosed opening tag makes the rest thinking (a model cut off mid-thought, or one that never closes
    the tag); an orphan closing tag makes everything before it thinking (templates that open the block in
    the prompt). The caller looks for a plan in the thinking text when the answer holds none, which is how
    JSON written after an unclosed tag is still found.
    """
    pieces: list[tuple[bool, str]] = []  # (is thinking, text) in reading order
    depth = 0
    pos = 0
    found = False
    for match in _TAG.finditer(text):
        found = True
        pieces.append((depth > 0, text[pos : match.start()]))
        pos = match.end()
        if match.group(1):  # closing tag
            if depth:
                depth -= 1
            else:  # orphan: what came before was reasoning
                pieces = [(True, t) for _, t in pieces]
        else:
            depth += 1
    pieces.append((depth > 0, text[pos:]))
    answer = "".join(t for thinking, t in pieces if not thinking)
    thinking = "\n".join(t.strip() for is_thinking, t in pieces if is_thinking and t.strip())
    return Split(answer.strip(), thinking, found)

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
    answer: list[str] = []
    thinking: list[str] = []
    depth = 0
    pos = 0
    found = False
    for match in _TAG.finditer(text):
        found = True
        chunk = text[pos : match.start()]
        pos = match.end()
        (thinking if depth else answer).append(chunk)
        if match.group(1):  # closing tag
            if depth:
                depth -= 1
            else:  # orphan: what came before was reasoning
                thinking.extend(answer)
                answer.clear()
        else:
            depth += 1
    (thinking if depth else answer).append(text[pos:])
    return Split("".join(answer).strip(), "\n".join(t.strip() for t in thinking if t.strip()), found)

"""Unified-diff patches as GitHub returns them per file: which lines a review comment may sit on, and a
numbered view of the patch for a model. Pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class PatchLines:
    right: frozenset[int]  # new-file lines inside the diff (added or context): where comments may go
    added: frozenset[int]


def lines(patch: str | None) -> PatchLines:
    right: set[int] = set()
    added: set[int] = set()
    new = 0
    for raw in (patch or "").splitlines():
        hunk = _HUNK.match(raw)
        if hunk:
            new = int(hunk.group(3))
            continue
        if raw.startswith("+"):
            right.add(new)
            added.add(new)
            new += 1
        elif raw.startswith(" ") or raw == "":
            right.add(new)
            new += 1
        # "-" lines and "\\ No newline" belong to the old side only.
    return PatchLines(frozenset(right), frozenset(added))


def since(pull_patch: str | None, new_patch: str | None) -> PatchLines:
    """Where an incremental review may comment: lines of the pull request's diff (`pull_patch`, base → head)
    that the commits since the last review added or changed (`new_patch`, last reviewed head → head)."""
    whole, new = lines(pull_patch), lines(new_patch)
    return PatchLines(whole.right & new.added, whole.added & new.added)


def numbered(patch: str | None, *, max_lines: int = 400) -> tuple[str, bool]:
    """The patch with new-file line numbers in front of added and context lines; clipped to `max_lines`."""
    out: list[str] = []
    new = 0
    for raw in (patch or "").splitlines():
        hunk = _HUNK.match(raw)
        if hunk:
            new = int(hunk.group(3))
            out.append(raw)
        elif raw.startswith("-"):
            out.append(f"     {raw}")
        elif raw.startswith("\\"):
            continue
        else:
            out.append(f"{new:>4} {raw if raw else ' '}")
            new += 1
        if len(out) >= max_lines:
            return "\n".join(out), True
    return "\n".join(out), False

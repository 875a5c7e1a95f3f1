"""What a worker is shown of the file it edits. Pure.

A small file is shown whole. A long one is shown where the work is: the regions around the lines the
traceback names and around the definitions the instruction names (a function from its `def` to its end),
each with line numbers, then an outline of the whole file's definitions — never a blind cut at a character
count, which would hide a bug in the middle of a long module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from equitr.agent.repomap import parse_source

WHOLE_FILE_CHARS = 12_000
MAX_BLOCK_LINES = 120
_GUTTER = re.compile(r"^ *\d+ \| ?")


@dataclass(frozen=True, slots=True)
class View:
    text: str  # numbered lines, with markers where lines are left out
    whole: bool  # every line is shown
    shown: tuple[tuple[int, int], ...]  # 1-based inclusive line ranges


def numbered(lines: Sequence[str], first: int = 1) -> str:
    return "\n".join(f"{n:>5} | {line}" for n, line in enumerate(lines, first))


def strip_gutter(text: str) -> str:
    """Text copied from a numbered view, without the numbers: only when every non-empty line has them."""
    rows = text.split("\n")
    filled = [r for r in rows if r.strip()]
    if not filled or not all(_GUTTER.match(r) for r in filled):
        return text
    return "\n".join(_GUTTER.sub("", r, count=1) for r in rows)


def view(
    text: str,
    *,
    lines: Sequence[int] = (),
    names: Sequence[str] = (),
    budget: int = WHOLE_FILE_CHARS,
) -> View:
    """`text` as a worker sees it: whole when it fits `budget`, else the regions around `lines` (e.g.
    traceback lines) and the definitions of `names`, then an outline."""
    rows = text.splitlines()
    if len(text) <= budget or not rows:
        return View(numbered(rows), True, ((1, len(rows)),) if rows else ())
    regions = _regions(rows, lines, names)  # most telling first
    cap = int(budget * 0.8)  # the rest is for the outline
    widened = regions
    for context in (25, 12, 5, 0):
        widened = [(max(1, a - context), min(len(rows), b + context)) for a, b in regions]
        if _size(_merge(widened), rows) <= cap:
            break
    spans = _fit(widened, rows, cap)
    if not spans:  # nothing named: the start of the file, and the outline shows where everything else is
        end = 1
        used = 0
        while end <= len(rows) and used + len(rows[end - 1]) + 8 <= budget // 2:
            used += len(rows[end - 1]) + 8
            end += 1
        spans = [(1, max(1, end - 1))]
    out: list[str] = []
    last = 0
    for a, b in spans:
        if a > last + 1:
            out.append(f"  … lines {last + 1}-{a - 1} not shown …")
        out.append(numbered(rows[a - 1 : b], a))
        last = b
    if last < len(rows):
        out.append(f"  … lines {last + 1}-{len(rows)} not shown …")
    defs = parse_source("", text).defs
    outline = "\n".join(f"{d.line:>5} | {d.text.strip()}" for d in defs[:80])
    header = (
        f"(the file has {len(rows)} lines; shown: "
        + ", ".join(f"{a}-{b}" for a, b in spans)
        + ". Copy SEARCH lines only from what is shown.)"
    )
    body = "\n".join(out)
    if outline:
        body += "\n\nOutline of the whole file (line | definition):\n" + outline
    return View(f"{header}\n{body}", False, tuple(spans))


def _regions(rows: Sequence[str], lines: Sequence[int], names: Sequence[str]) -> list[tuple[int, int]]:
    regions: list[tuple[int, int]] = []
    for n in lines:
        if 1 <= n <= len(rows):
            regions.append((n, n))
    for name in dict.fromkeys(names):
        block = definition_span(rows, name)
        if block is not None:
            regions.append(block)
            continue
        word = re.compile(rf"\b{re.escape(name)}\b")
        hits = [i + 1 for i, r in enumerate(rows) if word.search(r)][:3]
        regions += [(h, h) for h in hits]
    return regions


def definition_span(rows: Sequence[str], name: str) -> tuple[int, int] | None:
    """The lines of `name`'s definition: from its `def`/`class`/`function` line to where its body ends."""
    pattern = re.compile(rf"^(\s*)(?:export\s+)?(?:async\s+)?(?:def|class|function|func|fn)\s+{re.escape(name)}\b")
    for i, row in enumerate(rows):
        m = pattern.match(row)
        if m is None:
            continue
        indent = len(m.group(1))
        end = i
        for j in range(i + 1, min(len(rows), i + MAX_BLOCK_LINES)):
            text = rows[j]
            if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.lstrip().startswith((")", "]")):
                if text.strip() in ("}", "};", "end"):
                    end = j
                break
            end = j
        while end > i and not rows[end].strip():
            end -= 1
        return i + 1, end + 1
    return None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _size(spans: list[tuple[int, int]], rows: Sequence[str]) -> int:
    return sum(len(r) + 8 for a, b in spans for r in rows[a - 1 : b])


def _fit(spans: list[tuple[int, int]], rows: Sequence[str], budget: int) -> list[tuple[int, int]]:
    """The spans, taken in priority order, that fit `budget` together (a span that does not fit whole is
    cut at its end), merged and in file order."""
    chosen: list[tuple[int, int]] = []
    for a, b in spans:
        if _size(_merge([*chosen, (a, b)]), rows) <= budget:
            chosen.append((a, b))
            continue
        end = b
        while end > a and _size(_merge([*chosen, (a, end)]), rows) > budget:
            end = a + (end - a) // 2
        if _size(_merge([*chosen, (a, end)]), rows) <= budget:
            chosen.append((a, end))
    return _merge(chosen)

"""Hostile model replies: shapes that made equitr's parsers quadratic or worse (S4i), and a runner.

Used by `tests/security/test_sec_replies.py` (in a subprocess, with a hang guard) and by
`tests/performance/bench_parsers.py` (timings). Run by hand: `python -m tests.security.hostile_replies sr`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

MIB = 1024**2

# Each one repeated to the size asked for: unterminated blocks, deep nesting, openers never closed.
SHAPES: dict[str, str] = {
    "search-markers": "<<<<<<< SEARCH\n",
    "dividers": "=======\n",
    "open-braces": "{",
    "open-brackets": "[",
    "open-keys": '{"a": ',
    "deep-objects": "{" * 30 + '"a": ',
    "think-tags": "<think>",
    "closed-think": "<think>a</think>",
    "fences-without-newline": "```py",
    "fences": "```\n",
    "json-fences": '```json\n{"a": [\n',
    "tool-call-tags": '<tool_call>{"name": "file", "arguments": {',
    "xml-functions": "<function=read>",
    "python-calls": "read(",
    "quotes": '"',
    "newlines": "\n",
}


def parsers() -> dict[str, Callable[[str], object]]:
    from equitr.agent.edits import SearchReplace, WholeFile
    from equitr.agent.prompts import parse_review
    from equitr.interpret import interpret

    def search_replace(text: str) -> object:
        try:
            return SearchReplace().parse(text)
        except Exception:  # EditFormatError: the expected answer to garbage
            return None

    def whole_file(text: str) -> object:
        try:
            return WholeFile().parse(text)
        except Exception:
            return None

    return {
        "search-replace": search_replace,
        "whole-file": whole_file,
        "review": parse_review,
        "interpret": lambda text: interpret(text, request="fix mean() in mathutil.py"),
    }


def run(parser: str, size: int = MIB) -> dict[str, float]:
    """Seconds per shape for one parser on `size` characters of each shape."""
    parse = parsers()[parser]
    times: dict[str, float] = {}
    for name, unit in SHAPES.items():
        text = unit * (size // len(unit))
        start = time.perf_counter()
        parse(text)
        times[name] = time.perf_counter() - start
    return times


if __name__ == "__main__":
    for shape, seconds in run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else MIB).items():
        print(f"{shape:24} {seconds * 1000:9.1f} ms", flush=True)

"""Benchmark: `equitr.redact.redact` and `equitr.text.sanitize.sanitize` stay linear on hostile input.

    python tests/performance/bench_redact.py [--size 200000]

For each input shape that would make a backtracking pattern quadratic (a prefix repeated without the rest of
its token: `eyJeyJ…`, `ghp_ghp_…`, `://a:` …, `![![![…`, `<<<…`) it times the function at `size` and at twice
`size` characters and prints the ratio; linear time shows a ratio near 2 (quadratic would be near 4).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.redact import redact
from equitr.text.sanitize import sanitize

SHAPES = {
    "plain words": "lorem ipsum dolor ",
    "eyJ repeated": "eyJ",
    "ghp_ repeated": "ghp_",
    "dotted ghs_": "ghs_a.",
    "sk- repeated": "sk-",
    "://user: repeated": "://a:",
    "Authorization: repeated": "Authorization: ",
    "x-access-token: repeated": "x-access-token:",
    "-----BEGIN repeated": "-----BEGIN ",
    "![ repeated": "![",
    "![x]( repeated": "![x](",
    "< repeated": "<img ",
    "@ repeated": "@a ",
    "&# repeated": "&#6",
    "``` lines": "```x\n",
}


def timed(function: Callable[[str], str], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    args = parser.parse_args()
    print(f"{'input':<28}{'function':<10}{'n (ms)':>10}{'2n (ms)':>10}{'ratio':>8}")
    for name, unit in SHAPES.items():
        text = unit * (args.size // len(unit))
        for label, function in (("redact", redact), ("sanitize", sanitize)):
            one, two = timed(function, text), timed(function, text + text)
            print(f"{name:<28}{label:<10}{one * 1000:>10.1f}{two * 1000:>10.1f}{two / one:>8.2f}")


if __name__ == "__main__":
    main()

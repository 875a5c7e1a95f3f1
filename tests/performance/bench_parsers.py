"""Benchmark: every parser that reads model replies, on 1 MiB of each hostile shape (S4i).

A runnable script, not a test:

    .venv/bin/python -m tests.performance.bench_parsers [--size 1048576]

Prints milliseconds per parser and shape, and the worst case. Linear parsers scale with the size: run it
with --size 262144 as well to see the ratio.
"""

from __future__ import annotations

import argparse

from tests.security.hostile_replies import MIB, SHAPES, parsers, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=MIB)
    args = ap.parse_args()
    names = list(parsers())
    results = {name: run(name, args.size) for name in names}
    print(f"{'shape':24}" + "".join(f"{n:>16}" for n in names))
    for shape in SHAPES:
        print(f"{shape:24}" + "".join(f"{results[n][shape] * 1000:13.1f} ms" for n in names))
    worst = max((t, n, s) for n, times in results.items() for s, t in times.items())
    print(f"worst: {worst[1]} on {worst[2]}: {worst[0]:.2f} s for {args.size} characters")


if __name__ == "__main__":
    main()

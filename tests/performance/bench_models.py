#!/usr/bin/env python
"""How long choosing and validating a model takes (target < 100 ms, no network).

    .venv/bin/python tests/performance/bench_models.py

Prints the one-off cost of loading the price catalogue, then p50/p99 over many calls of what the hot
path does: parse + validate a name, describe it, price a call, pick compatible models.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.models.manager import ModelManager, models_list

NAMES = [
    "openai/gpt-4.1-mini",
    "anthropic/claude-sonnet-4-5",
    "ollama/qwen3:30b",
    "openai-compatible/qwen3-30b",
    "local/smollm2",
]


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    started = time.perf_counter()
    manager = ModelManager()
    manager.validate_model("openai/gpt-4.1-mini")
    cold = (time.perf_counter() - started) * 1000
    print(f"first validation (loads the price catalogue, once per process): {cold:.1f} ms")

    def validate_all() -> None:
        for name in NAMES:
            manager.validate_model(name)

    def info_all() -> None:
        for name in NAMES:
            manager.get_model_info(name)

    def cost_all() -> None:
        for name in NAMES:
            manager.estimate_cost(name, 12_000, 800)

    # every model's info from a fresh manager each time (`equitr models list`), with no warm lookups of its own
    def choose() -> None:
        models_list(ModelManager(configured=["ollama/qwen3:30b"]))

    rows = [
        ("validate 5 names", timed(validate_all, 2000)),
        ("model info for 5 names", timed(info_all, 2000)),
        ("estimate cost for 5 names", timed(cost_all, 2000)),
        ("list: model info over the catalogue", timed(choose, 200)),
    ]
    print(f"{'operation':<46} {'p50 ms':>8} {'p99 ms':>8}")
    for label, (p50, p99) in rows:
        print(f"{label:<46} {p50:>8.3f} {p99:>8.3f}")
    worst = max(p99 for _, (_, p99) in rows)
    print(f"target < 100 ms: {'met' if worst < 100 else 'MISSED'} (worst p99 {worst:.2f} ms)")


if __name__ == "__main__":
    main()

"""Benchmark: the `search` tool against plain `rg`, and the sandbox's start-up overhead.

A runnable script, not a test (pytest does not collect `bench_*.py`):

    .venv/bin/python -m tests.performance.bench_search [--files 20000] [--repeat 15]

It builds a tree of generated source files in a temporary directory, runs each query through the tool and
through plain `rg` with the equivalent flags, and prints p50 times and the ratio. Then it times `true`
started directly, through `run_command(mode="none")` (cgroup + prlimit) and under bubblewrap.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from equitr.sandbox import binaries
from equitr.sandbox.bwrap import SandboxMode, run_command
from equitr.sandbox.limits import Limits
from equitr.tools import search
from equitr.tools.base import ToolContext
from equitr.tools.search import SearchParams

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "parse",
    "render",
    "fetch",
    "store",
    "index",
    "queue",
    "token",
    "value",
    "error",
    "result",
]


def build_tree(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    per_dir = 100
    for i in range(files):
        d = root / f"pkg{i // per_dir:03d}" / ("sub" if i % 3 else "")
        d.mkdir(parents=True, exist_ok=True)
        lines = [f"# module {i}", "import os", ""]
        for j in range(rng.randint(5, 25)):
            name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{j}"
            lines += [f"def {name}(x):", f"    return x + {j}  # {rng.choice(WORDS)}", ""]
        if i % 997 == 0:
            lines += ["class TargetClass:", "    needle_token = 'found'", ""]
        (d / f"module_{i}.py").write_text("\n".join(lines))


def p50(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the page cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_rg(root: Path, *args: str) -> Callable[[], object]:
    rg = str(binaries.rg().path)  # the copy the tool runs, so that the ratio is the tool's own overhead
    return lambda: subprocess.run([rg, *args], cwd=root, capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if binaries.rg().path is None:
        raise SystemExit("ripgrep (`rg`) is not installed")
    with tempfile.TemporaryDirectory(prefix="equitr-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        build_tree(root, args.files)
        print(f"tree: {args.files} files in {time.perf_counter() - start:.1f} s at {root}")
        ctx = ToolContext(root=root)
        common = ["--hidden", "--glob", "!.git", "--line-number", "--no-heading"]
        queries: list[tuple[str, SearchParams, list[str]]] = [
            ("text, rare", SearchParams(query="needle_token"), [*common, "-F", "needle_token", "."]),
            ("text, frequent", SearchParams(query="return x"), [*common, "-F", "return x", "."]),
            ("regex", SearchParams(query=r"def fetch_\w+_1\b", search_type="regex"),
             [*common, r"def fetch_\w+_1\b", "."]),
            ("filename", SearchParams(query="module_1234", search_type="filename"),
             ["--files", "--hidden", "--glob", "*module_1234*", "."]),
            ("symbol", SearchParams(query="TargetClass", search_type="symbol"),
             [*common, r"^\s*class\s+TargetClass\b", "."]),
        ]  # fmt: skip
        print(f"\n{'query':<16} {'tool p50':>10} {'rg p50':>10} {'ratio':>7}")
        for name, params, rg_args in queries:
            tool = p50(lambda params=params: search.run(params, ctx), args.repeat)  # type: ignore[misc]
            plain = p50(plain_rg(root, *rg_args), args.repeat)
            print(f"{name:<16} {tool * 1000:>8.1f}ms {plain * 1000:>8.1f}ms {tool / plain:>6.2f}x")

        print(f"\n{'sandbox start-up (true)':<34} {'p50':>9}")
        direct = p50(lambda: subprocess.run(["true"], check=True), args.repeat * 2)
        rows = [("subprocess, no limits", direct)]
        limits = Limits(wall_time_s=30)
        modes: list[SandboxMode] = ["none", "bwrap"] if binaries.bwrap().path else ["none"]
        for mode in modes:
            start_true = partial(run_command, ["true"], root=root, mode=mode, limits=limits)
            started = p50(start_true, args.repeat * 2)
            rows.append((f"run_command mode={mode}", started))
        for label, value in rows:
            print(f"{label:<34} {value * 1000:>7.1f}ms  (+{(value - direct) * 1000:.1f}ms)")


if __name__ == "__main__":
    main()

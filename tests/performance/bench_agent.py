"""Benchmark: the agent engine's own overhead per step, excluding model time and tool time.

    python tests/performance/bench_agent.py [--steps 40] [--runs 20]

A deterministic scripted model (not a real model) answers instantly with a plan of N read-only steps and
an acceptance; model calls and tool executions are timed separately, and what remains of the wall time —
interpretation, graph building, limit checks, ledger, events, the repository map, the diff — is the
engine's overhead, reported per step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.agent.loop import Agent, Task
from equitr.config.flags import Limits
from equitr.models.types import ChatRequest, Reply
from equitr.tools import registry
from equitr.tools.base import ToolContext
from tests.conftest import make_repo
from tests.fakes.scripted_model import ScriptedModel


class Timed(ScriptedModel):
    spent = 0.0

    async def chat(self, request: ChatRequest) -> Reply:
        started = time.perf_counter()
        try:
            return await super().chat(request)
        finally:
            Timed.spent += time.perf_counter() - started


async def one(repo: Path, steps: int) -> tuple[float, float, float]:
    plan = json.dumps(
        {
            "execution_steps": [
                {
                    "step": i + 1,
                    "tool": "file",
                    "parameters": {"action": "read", "path": "mathutil.py"},
                    "dependencies": [],
                }
                for i in range(steps)
            ]
        }
    )
    Timed.spent = 0.0
    tool_time = 0.0
    original = registry.execute

    async def timed_execute(step, ctx):  # type: ignore[no-untyped-def]
        nonlocal tool_time
        started = time.perf_counter()
        try:
            return await original(step, ctx)
        finally:
            tool_time += time.perf_counter() - started

    registry.execute = timed_execute  # type: ignore[assignment]
    try:
        agent = Agent(
            model=Timed([plan, '{"decision": "accept", "reason": "ok"}']),
            supervisor="s/s",
            worker="w/w",
            tools=ToolContext(root=repo, sandbox_mode="none", test_command=""),
            limits=Limits(max_steps=steps + 5, max_iterations=1, max_parallel=1),
        )
        started = time.perf_counter()
        await agent.run(Task("read mathutil.py", mode="ask"))
        total = time.perf_counter() - started
    finally:
        registry.execute = original  # type: ignore[assignment]
    return total, Timed.spent, tool_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    repo = make_repo(Path(tempfile.mkdtemp()))
    per_step = []
    for _ in range(args.runs):
        total, model, tools = asyncio.run(one(repo, args.steps))
        per_step.append((total - model - tools) / args.steps * 1000)
    per_step.sort()
    print(f"{args.runs} runs of {args.steps} steps each (read-only file steps, scripted model)")
    print(
        f"engine overhead per step: p50 {statistics.median(per_step):.3f} ms   "
        f"p99 {per_step[max(0, int(len(per_step) * 0.99) - 1)]:.3f} ms"
    )


if __name__ == "__main__":
    main()

"""Benchmark: how long a cancel takes to stop a job, with the default lease (60 s).

    python tests/performance/bench_cancel.py [--runs 5]

The job is the agent on the job's own event loop (as `/equitr fix` runs it), with a scripted model, in a
real git checkout. Two cases: a model call that never answers, and the tests running in the sandbox (a `sleep`
that would run past the time limit). The clock starts when the cancel request is stored (what the webhook
does for `/equitr cancel`) and stops when the runner has ended the job; the command's process must be gone
by then. Before the cancel was watched on its own (B15) this took up to lease / 3 = 20 s, and the command
kept running until its time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.agent.loop import Agent, Task
from equitr.jobs.model import NewJob
from equitr.jobs.runner import JobContext, Outcome, Runner
from equitr.jobs.store.rules import process_owner
from equitr.jobs.store.sqlite import SqliteStore
from equitr.tools.base import ToolContext
from tests.conftest import make_repo
from tests.fakes.scripted_model import ScriptedModel

SLEEP = ["sleep", "876.5"]


def running(argv: list[str]) -> bool:
    wanted = "\0".join(argv).encode()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes().rstrip(b"\0") == wanted:
                return True
        except OSError:
            pass
    return False


async def once(store: SqliteStore, repo: Path, case: str, n: int) -> float:
    started = asyncio.Event()

    async def never(messages: Any) -> str:
        started.set()
        await asyncio.Event().wait()
        return ""

    async def handler(ctx: JobContext) -> Outcome:
        tools = ToolContext(
            root=repo,
            sandbox_mode="bwrap" if shutil.which("bwrap") else "none",
            test_command=" ".join(SLEEP) if case == "command" else "",
        )
        agent = Agent(model=ScriptedModel([never]), supervisor="openai/gpt-4.1-mini", worker="x/y", tools=tools)
        await agent.run(Task("fix it", mode="fix"))
        return Outcome("done")

    async def unused(*args: Any) -> Any:
        raise AssertionError("no GitHub here")

    runner = Runner(store=store, github=unused, handlers={"fix": handler}, owner=process_owner(), lease_s=60.0)
    job = store.create(NewJob("fix", "o/r", n, "a", f"d-{case}-{n}"), [f"delivery:{case}-{n}"])
    assert job is not None
    task = asyncio.create_task(runner.run(job.id))
    if case == "command":
        while not running(SLEEP):
            await asyncio.sleep(0.01)
    else:
        await started.wait()
    t0 = time.perf_counter()
    await asyncio.to_thread(store.request_cancel, job.id)
    outcome = await task
    took = time.perf_counter() - t0
    assert outcome is not None and outcome.state == "cancelled", outcome
    assert not running(SLEEP), "the command outlived the job"
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "b.db")
        repo = make_repo(Path(tmp))
        for case in ("model call", "command"):
            times = [asyncio.run(once(store, repo, case.split()[0], i)) for i in range(args.runs)]
            print(
                f"cancel during a {case:<10}  median {statistics.median(times):5.2f} s   "
                f"max {max(times):5.2f} s   ({args.runs} runs, lease 60 s)"
            )


if __name__ == "__main__":
    main()

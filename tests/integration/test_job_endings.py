"""How jobs end, as the issue sees it: every ending updates the status comment and a failure posts one
formatted error (also for a bug, a job given up after crashing its workers, and a GitHub that is away when
the job ends); commands that change an issue run one at a time; a cancel stops the model call and the
command in the sandbox at once. Signed webhooks into the real app, the real runner, sandbox and git remote,
the fake GitHub checked against GitHub's API description, a scripted model."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.github import comments
from equitr.jobs import runner as runner_module
from equitr.jobs.runner import Runner
from equitr.jobs.status import PAUSED, RESTARTED, Status, status_body
from equitr.jobs.store.rules import process_owner
from tests.integration import test_github_e2e as e2e
from tests.integration.test_github_e2e import (
    ACCEPT,
    PLAN,
    REPO,
    World,
    comment,
    push_to_default_branch,
    run_job,
    status_comment,
)

world = e2e.world  # the same world as the other GitHub workflow tests: the app, the runner, the fakes


def runner_of(w: World) -> Runner:
    runner = w.run.__self__  # type: ignore[attr-defined]
    assert isinstance(runner, Runner)
    return runner


def error_comment(w: World, job_id: int) -> str:
    mark = f"<!-- equitr:error:{e2e.ref(w, job_id)} -->"  # a job's markers carry its uid
    (found,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    return str(found)


def equitr_comments(w: World, kind: str, job_id: int) -> list[str]:
    mark = f"<!-- equitr:{kind}:{e2e.ref(w, job_id)} -->"
    return [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]


# -- every ending is reported ----------------------------------------------------------------------------------


async def test_an_unexpected_error_ends_the_status_and_posts_the_error(world: World) -> None:
    """Stale status / R6: a bug (not an EquitrError) mid-job: the status comment says failed, and one
    formatted error comment says what to do, with no traceback and no detail of the exception."""
    w = world

    def bug(messages: Any) -> str:
        raise KeyError("secret detail of a bug")

    w.model.script.append(bug)
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    outcome = await run_job(w, answer)
    assert outcome.state == "failed" and "KeyError" in outcome.reason
    status = status_comment(w, job_id)
    assert status.splitlines()[1].startswith("### ❌ equitr `fix` — failed")
    error = error_comment(w, job_id)
    assert "### ⚠️ Internal error" in error and "`KeyError`" in error
    assert "Traceback" not in error and "secret detail" not in error and "secret detail" not in status


async def test_a_job_given_up_after_crashing_its_workers_is_reported(world: World) -> None:
    """R2 (a): the claim's give-up branch (three workers died running it) ends the status comment and
    posts the formatted error, like any other ending."""
    w = world
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    store = w.services.store
    # The first attempt got as far as its status comment, as equitr's own client would have posted it.
    async with aiohttp.ClientSession() as session:
        gh = await w.services.access.api(session, 7)
        planning = status_body(Status(job_id, "fix", "alice", phase="planning"))
        me = await w.services.access.identity(session)
        await comments.upsert(gh, REPO, 1, "status", e2e.ref(w, job_id), planning, author=me)
    for attempt in range(3):  # three workers, each killed mid-job, each job taken up again by the sweeper
        assert store.claim(job_id, f"dead-host:{attempt}:1", 0.01) is not None
        time.sleep(0.02)
        assert store.requeue(job_id, f"dead-host:{attempt}:1")

    assert await w.run(job_id) is None  # the fourth claim gives it up
    job = store.get(job_id)
    assert job is not None and job.state == "failed" and "3 attempts" in job.reason
    status = status_comment(w, job_id)
    assert "### ❌ equitr `fix` — failed" in status and "gave up after 3 attempts" in status
    error = error_comment(w, job_id)
    assert "### ⚠️ Job failed" in error and "Gave up after 3 attempts" in error and "/equitr retry" in error


async def test_a_paused_status_is_ended_by_an_attempt_that_ends_before_showing_its_own(
    world: World, tmp_path: Path
) -> None:
    """R3: an earlier attempt left the status "⏸️ paused" (handed back at a restart, or parked for a rate
    limit); the next one fails before its handler shows a status (here: a broken `.equitr.toml` merged since).
    The ending still reaches that comment: it never keeps saying paused."""
    w = world
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    async with aiohttp.ClientSession() as session:
        gh = await w.services.access.api(session, 7)
        paused = status_body(Status(job_id, "fix", "alice", phase=PAUSED, detail=RESTARTED))
        me = await w.services.access.identity(session)
        await comments.upsert(gh, REPO, 1, "status", e2e.ref(w, job_id), paused, author=me)
    assert "### ⏸️ equitr `fix` — paused: equitr restarted; it resumes by itself" in status_comment(w, job_id)
    push_to_default_branch(w, tmp_path, {".equitr.toml": "[fix\n"})
    outcome = await run_job(w, answer)
    assert outcome.state == "failed" and ".equitr.toml" in outcome.reason, outcome
    status = status_comment(w, job_id)
    assert "### ❌ equitr `fix` — failed" in status and "paused" not in status, status


async def test_a_job_that_paid_for_its_model_waits_for_a_rate_limit_in_place_and_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R9: a rate limit after the model work (here: opening the pull request) is waited out in place, not
    parked (a run again would pay the model again); meanwhile the status says why and when it goes on."""
    w = world
    monkeypatch.setattr(runner_module, "PARK_AFTER_S", 1.0)  # a 3 s wait counts as long here
    w.model.script += [PLAN, ACCEPT]
    w.fake.secondary_rate_limit_next("POST", f"/repos/{REPO}/pulls", retry_after=3)
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    job = w.services.store.get(job_id)
    assert job is not None and job.attempts == 1 and len(w.model.seen) == 2  # not parked: the model paid once
    assert [c.status for c in w.fake.calls_to("POST", f"/repos/{REPO}/pulls")] == [403, 201]
    edits = [str(c.json["body"]) for c in w.fake.calls_to("PATCH", f"/repos/{REPO}/issues/comments/*") if c.json]
    pauses = [e for e in edits if "### ⏸️ equitr `fix` — paused: GitHub's rate limit; resumes at " in e]
    assert len(pauses) == 1 and " UTC" in pauses[0], edits
    assert "### ✅ equitr `fix` — done" in status_comment(w, job_id)


async def test_a_rate_limit_that_outlasts_parking_ends_the_job_pointing_to_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job still rate-limited when it may no longer be parked (here at once: `PARK_MAX_AGE_S` 0) ends
    failed; its error must not promise that equitr runs it again, and says how to ask for it."""
    w = world
    monkeypatch.setattr(runner_module, "PARK_AFTER_S", 1.0)
    monkeypatch.setattr(runner_module, "PARK_MAX_AGE_S", 0.0)
    w.fake.secondary_rate_limit_next("POST", f"/repos/{REPO}/issues/1/comments", retry_after=30)
    _, answer = await comment(w, "/equitr help")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed", outcome
    error = error_comment(w, answer["jobs"][0])
    assert "/equitr retry" in error and "UTC" in error, error
    assert "runs the job again" not in error and "Traceback" not in error


async def test_an_ending_github_did_not_take_is_posted_when_github_is_back(world: World) -> None:
    """R2 (b): GitHub is unreachable when the job ends: the report is kept and the sweeper posts it later;
    the status comment never stays "⏳"."""
    w = world

    def github_goes_away(messages: Any) -> str:
        # Every write to the issue fails from now on, as when GitHub is unreachable.
        for method in ("POST", "PATCH"):
            w.fake.fail_next(method, f"/repos/{REPO}/issues/*", disconnect=True, times=100)
        raise KeyError("a bug, while GitHub is away")

    w.model.script.append(github_goes_away)
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    assert (await run_job(w, answer)).state == "failed"
    assert "### ⏳ equitr `fix`" in status_comment(w, job_id) and not equitr_comments(w, "error", job_id)
    runner = runner_of(w)
    assert await runner.deliver_reports() == 0  # not due yet: it waits (backoff) before trying again
    assert await runner.deliver_reports(now=time.time() + 3600) == 0  # due, but GitHub is still away

    w.fake.clear_failures()
    assert await runner.deliver_reports(now=time.time() + 3 * 3600) == 1
    assert "### ❌ equitr `fix` — failed" in status_comment(w, job_id)
    assert "### ⚠️ Internal error" in error_comment(w, job_id)
    assert await runner.deliver_reports(now=time.time() + 9 * 3600) == 0  # delivered once, then gone
    assert len(equitr_comments(w, "error", job_id)) == 1


async def test_a_help_job_that_github_failed_gets_its_error_posted_later(world: World) -> None:
    """R2 (c): run-control jobs (help, status, cost) have an error path too."""
    w = world
    _, answer = await comment(w, "/equitr help")
    job_id = answer["jobs"][0]
    # Every try `comments.upsert` makes (it looks, then posts again, after a dropped connection) fails: for the
    # answer, then for the error comment of the ending.
    w.fake.fail_next("POST", f"/repos/{REPO}/issues/1/comments", disconnect=True, times=2 * comments.WRITE_TRIES)
    outcome = await run_job(w, answer)
    assert outcome.state == "failed" and not equitr_comments(w, "error", job_id)
    assert await runner_of(w).deliver_reports(now=time.time() + 3600) == 1
    error = error_comment(w, job_id)
    assert "### ⚠️ Network error" in error and "Could not reach GitHub" in error


# -- one change at a time on an issue ----------------------------------------------------------------------------


async def test_a_second_fix_while_one_runs_is_refused_at_once_pointing_to_it(world: World) -> None:
    """B7: two quick `/equitr fix` on one issue: the first runs, the second is refused with the job that holds
    the issue and `/equitr cancel`; no status comment is left "⏳"."""
    w = world
    started, gate = asyncio.Event(), asyncio.Event()

    async def hold(messages: Any) -> str:
        started.set()
        await gate.wait()  # the first job is planning while the second command arrives
        return PLAN

    w.model.script += [hold, ACCEPT]
    _, first = await comment(w, "/equitr fix")
    _, second = await comment(w, "/equitr fix and add a test")
    running = asyncio.create_task(run_job(w, first))
    await asyncio.wait_for(started.wait(), 120)
    refused = await run_job(w, second)
    gate.set()
    done = await running
    first_id, second_id = first["jobs"][0], second["jobs"][0]
    assert done.state == "done", done
    assert refused.state == "failed" and f"Job {first_id} (`fix`) is already working on this issue" in refused.reason
    error = error_comment(w, second_id)
    assert "### ⚠️ Another job is already working here" in error
    assert "`/equitr cancel`" in error and "- `/equitr status`" in error
    assert equitr_comments(w, "status", second_id) == []  # never started: no status comment to leave behind
    assert "— done" in status_comment(w, first_id)
    assert len(w.fake.repo(REPO).pulls) == 1


async def test_ask_and_plan_run_alongside_a_fix(world: World) -> None:
    """Read-only commands are not serialized: only commands that change the issue are."""
    w = world
    w.model.script += ["I cannot plan this."] * 6
    _, first = await comment(w, "/equitr fix")
    _, plan = await comment(w, "/equitr plan")
    store = w.services.store
    assert store.claim(first["jobs"][0], process_owner(), 60) is not None  # the fix is running
    outcome = await run_job(w, plan)
    assert "already working" not in outcome.reason


# -- cancel stops the work at once ------------------------------------------------------------------------------


def processes_running(argv: list[str]) -> list[int]:
    wanted = "\0".join(argv).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().rstrip(b"\0")
            except OSError:
                continue
            if cmdline == wanted:
                found.append(int(entry))
    return found


async def cancel_when(w: World, answer: Any, ready: asyncio.Event) -> Any:
    # An hour's lease: the lease is renewed every 20 minutes, and a cancel must not wait for that. (How soon
    # it lands is measured in tests/performance/bench_cancel.py, not asserted here.)
    runner_of(w).lease_s = 3600.0
    job = asyncio.create_task(run_job(w, answer))
    await asyncio.wait_for(ready.wait(), 120)
    status, cancel = await comment(w, "/equitr cancel")
    assert status == 202
    outcome = await job  # the work never ends by itself: only the cancel ends it
    await run_job(w, cancel)
    return outcome


async def test_cancel_stops_a_slow_model_call(world: World) -> None:
    """B15: `/equitr cancel` during a model call that does not answer: the call is abandoned, the job ends
    cancelled, the status comment says so."""
    w = world
    calling, abandoned = asyncio.Event(), asyncio.Event()

    async def slow(messages: Any) -> str:
        calling.set()
        try:
            await asyncio.Event().wait()  # a model call that never answers
        except asyncio.CancelledError:
            abandoned.set()
            raise
        return PLAN

    w.model.script += [slow, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    outcome = await cancel_when(w, answer, calling)
    job_id = answer["jobs"][0]
    assert outcome.state == "cancelled" and abandoned.is_set()
    assert w.services.store.get(job_id).state == "cancelled"  # type: ignore[union-attr]
    assert "### ⏹️ equitr `fix` — cancelled" in status_comment(w, job_id)
    assert any("Cancelling: job" in c["body"] for c in w.fake.issue_comments(REPO, 1))
    assert len(w.model.seen) == 1  # no model call after the cancel


@pytest.mark.parametrize("seconds", ["987.6"])
async def test_cancel_kills_a_long_command_in_the_sandbox(world: World, tmp_path: Path, seconds: str) -> None:
    """B15: `/equitr cancel` while the tests run (here a command that would run for 16 minutes, beyond the
    sandbox's time limit): the command and its process group are gone when the job has ended, and so is the
    job's checkout."""
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": f'[fix]\ntest_command = "sleep {seconds}"\n'})
    w.model.script += [PLAN, ACCEPT]
    _, answer = await comment(w, "/equitr fix")
    sleeping = asyncio.Event()

    async def watch() -> None:
        while not processes_running(["sleep", seconds]):
            await asyncio.sleep(0.05)
        sleeping.set()

    watcher = asyncio.create_task(watch())
    try:
        outcome = await cancel_when(w, answer, sleeping)
    finally:
        watcher.cancel()
    assert outcome.state == "cancelled"
    assert processes_running(["sleep", seconds]) == []
    jobs_dir = Path(w.services.settings.workdir or "") / "jobs"
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())
    assert "cancelled" in status_comment(w, answer["jobs"][0])

"""The monitor's view of an agent run (`equitr.monitor.records`): its plan, trajectory, diff and tests as the job's
outcome, and the record of an `equitr run` kept in a local store."""

from __future__ import annotations

import dataclasses
import getpass
import time
from pathlib import Path
from typing import Any

from equitr.agent.loop import AgentResult, TestRun
from equitr.jobs import metrics
from equitr.jobs.model import Job, new_uid
from equitr.jobs.store.sqlite import SqliteStore
from equitr.monitor import records as monitor
from equitr.tools.registry import Step


def record_result(result: AgentResult, **more: Any) -> None:
    """What the agent did, for the job's monitor record (`equitr.monitor.records`): plan, trajectory, diff, tests.
    Redacted and bounded when the record is stored."""
    mon = monitor.current()
    if mon is None:
        return
    mon.outcome(
        plan=[_plan_item(step) for step in result.plan],
        trajectory=[
            {
                "step": n,
                "tool": e.actor,
                "summary": f"{e.what}: {e.detail}" if e.detail else e.what,
                "ok": e.ok,
            }
            for n, e in enumerate(result.trajectory, 1)
        ],
        diff=result.diff,
        tests_before=_test_run(result.tests_before),
        tests_after=_test_run(result.tests_after),
        error=None if result.status == "accepted" else (result.reason or result.status),
        **more,
    )


def record_pr(pr_url: str) -> None:
    """The pull request a job opened or updated, for the links of its monitor record."""
    mon = monitor.current()
    if mon is not None:
        links = mon.outcome().links
        mon.outcome(links={"issue_url": links["issue_url"], "pr_url": pr_url, "comment_url": links["comment_url"]})


def _plan_item(step: Step) -> monitor.PlanItem:
    params = step.parameters
    action = getattr(params, "action", None)
    subject = next((str(v) for v in (getattr(params, k, None) for k in ("path", "query", "target")) if v), "")
    tool = f"{step.tool}:{action}" if action else str(step.tool)
    return {"tool": tool, "subject": subject, "description": step.description}


def _test_run(run: TestRun | None) -> monitor.TestRun | None:
    return None if run is None else {"summary": run.summary, "output": run.output}



def save_local_run(db: Path, record: monitor.JobRecord, *, repo: str, ok: bool, started_at: float) -> int:
    """Keep an `equitr run`'s record in the SQLite store at `db` as an ended job of kind `run` (so the dashboard
    of that store shows it, and its metrics add up). The job's id."""
    now = time.time()
    cost = record.cost_usd
    error = record.outcome.error if record.outcome is not None else None
    job = Job(
        id=0,
        kind="run",
        repo=repo,
        number=0,
        requester=_user(),
        delivery_id="",
        state="done" if ok else "failed",
        reason="" if ok else (error or "not accepted"),
        cost_usd=cost,
        created_at=started_at,
        updated_at=now,
        started_at=started_at,
        finished_at=now,
        uid=new_uid(),
    )
    store = SqliteStore(db)
    try:
        stored = store.adopt(job)
        assert stored is not None  # a new uid is never taken
        kept = dataclasses.replace(record, job_id=stored.id)
        store.save_record(stored.id, kept)
        share = metrics.fold(stored, kept, stored.state, now=now)
        store.add_metrics(stored.id, share.inc, share.set)
        return stored.id
    finally:
        store.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"

"""Jobs and monitor records for the dashboard's tests, written through the store and the monitor's own types.

`seed(store)` stores a few finished jobs on two repositories (one of them private to its collaborators), each
with a `JobRecord` as the monitor keeps it: phases, model calls (with repairs and a fallback), GitHub calls
and an outcome whose text is hostile (markup, a `javascript:` link) as a model's output can be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from equitr.jobs.model import NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.sqlite import SqliteStore
from equitr.monitor.records import GitHubCall, JobRecord, ModelCall, Outcome, Phase

PUBLIC_REPO = "octo/app"
PRIVATE_REPO = "octo/secret-plans"
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
PRIVATE_MARKER = "launch-codes-in-secret-plans"
DAY = 86400.0


@dataclass(frozen=True)
class Seeded:
    public_job: int  # a done fix on PUBLIC_REPO with a full record
    failed_job: int  # a failed fix on PUBLIC_REPO
    private_job: int  # a done fix on PRIVATE_REPO whose record mentions PRIVATE_MARKER
    all_jobs: tuple[int, ...]


def _job(store: JobStore, repo: str, number: int, kind: str, state: str, cost: float, reason: str = "") -> int:
    job = store.create(
        NewJob(kind=kind, repo=repo, number=number, requester="alice", delivery_id=f"d-{repo}-{number}-{kind}"),
        keys=[f"seed:{repo}:{number}:{kind}"],
    )
    assert job is not None
    claimed = store.claim(job.id, "seed:1:1", 60)
    assert claimed is not None
    assert store.finish(job.id, "seed:1:1", state, reason, cost)  # type: ignore[arg-type]
    return job.id


def _backdate(store: JobStore, job_id: int, days_ago: float, run_s: float) -> float:
    """Move a job into the past (a chart over days needs jobs on several days); SQLite only."""
    # From 10:00 UTC today, not from now: the pages (and their screenshots) are the same all day.
    created = (time.time() // DAY) * DAY + 10 * 3600 - days_ago * DAY
    if not isinstance(store, SqliteStore):
        job = store.get(job_id)
        assert job is not None
        return job.created_at
    store._conn().execute(
        "UPDATE jobs SET created_at = ?, started_at = ?, finished_at = ?, updated_at = ? WHERE id = ?",
        (created, created + 2.0, created + 2.0 + run_s, created + 2.0 + run_s, job_id),
    )
    return created


def _record(job_id: int, at: float, *, model: str, repo: str, number: int, hostile: str, ok: bool) -> JobRecord:
    start = at + 2.0
    phases = [
        Phase("queue_wait", at, 2.0),
        Phase("checkout", start, 1.2),
        Phase("setup", start + 1.2, 4.5),
        Phase("tests_before", start + 5.7, 3.1),
        Phase("plan", start + 8.8, 6.4),
        Phase("step", start + 15.2, 8.0, "1"),
        Phase("step", start + 23.2, 5.5, "2"),
        Phase("tests_after", start + 28.7, 3.3),
        Phase("review", start + 32.0, 4.0),
        Phase("push", start + 36.0, 0.8),
        Phase("comment", start + 36.8, 0.3),
    ]
    calls = [
        ModelCall(model, "supervisor", 1800, 420, 0.0123, 3.2, 0, "json_schema", (), False, start + 9),
        ModelCall(
            model, "worker", 2600, 900, 0.0211, 4.1, 1, "json_object", ("fence", "trailing_comma"), False, start + 16
        ),
        ModelCall("ollama/qwen2.5-coder:7b", "worker", 2400, 700, 0.0, 5.0, 0, "text", ("prose",), True, start + 24),
        ModelCall(model, "reviewer", 3000, 300, 0.0098, 2.0, 0, "json_schema", (), False, start + 33),
    ]
    outcome = Outcome(
        plan=[
            {
                "tool": "edit",
                "subject": "app/config.py",
                "description": f"Read the port from the environment {hostile}",
            },
            {"tool": "test", "subject": "tests/test_config.py", "description": "Cover the new default"},
        ],
        trajectory=[
            {"step": 1, "tool": "read_file", "summary": f"read app/config.py {hostile}", "ok": True},
            {"step": 2, "tool": "edit", "summary": "replaced the hard-coded port", "ok": True},
            {"step": 3, "tool": "run_tests", "summary": "2 passed" if ok else "1 failed: test_port", "ok": ok},
        ],
        diff="--- a/app/config.py\n+++ b/app/config.py\n@@ -1,2 +1,3 @@\n-PORT = 8000\n+import os\n"
        f"+PORT = int(os.environ.get('PORT', 8000))  # {hostile}\n",
        tests_before={"summary": "1 failed, 1 passed", "output": "FAILED tests/test_config.py::test_port"},
        tests_after={"summary": "2 passed" if ok else "1 failed", "output": "== 2 passed in 0.03s =="},
        cost_by_model_role=[
            {"model": model, "role": "supervisor", "cost_usd": 0.0123, "tokens_in": 1800, "tokens_out": 420},
            {"model": model, "role": "worker", "cost_usd": 0.0211, "tokens_in": 2600, "tokens_out": 900},
            {
                "model": "ollama/qwen2.5-coder:7b",
                "role": "worker",
                "cost_usd": 0.0,
                "tokens_in": 2400,
                "tokens_out": 700,
            },
            {"model": model, "role": "reviewer", "cost_usd": 0.0098, "tokens_in": 3000, "tokens_out": 300},
        ],
        repairs={"fence": 1, "trailing_comma": 1, "prose": 1},
        links={
            "issue_url": f"https://github.com/{repo}/issues/{number}",
            "pr_url": "javascript:alert(document.cookie)",
            "comment_url": None,
        },
        error=None if ok else f"the tests still fail {hostile}",
    )
    github = [
        GitHubCall("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", 200, 4990, 0.12, start),
        GitHubCall("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 201, 4989, 0.2, start + 37),
    ]
    return JobRecord(job_id=job_id, phases=phases, model_calls=calls, github_calls=github, outcome=outcome)


def seed(store: JobStore) -> Seeded:
    ids: list[int] = []
    public = failed = private = 0
    plan = [
        (PUBLIC_REPO, 11, "fix", "done", 0.0432, "", 6, "openai/gpt-4o-mini"),
        (PUBLIC_REPO, 12, "fix", "failed", 0.0121, f"the tests still fail {HOSTILE}", 4, "openai/gpt-4o-mini"),
        (PUBLIC_REPO, 13, "plan", "done", 0.0040, "", 3, "anthropic/claude-3-5-haiku"),
        (PUBLIC_REPO, 14, "review", "done", 0.0090, "", 1, "anthropic/claude-3-5-haiku"),
        (PRIVATE_REPO, 3, "fix", "done", 0.0810, "", 2, "openai/gpt-4o"),
        (PUBLIC_REPO, 15, "ask", "cancelled", 0.0, "cancelled by alice", 0.5, "openai/gpt-4o-mini"),
    ]
    for repo, number, kind, state, cost, reason, days_ago, model in plan:
        job_id = _job(store, repo, number, kind, state, cost, reason)
        at = _backdate(store, job_id, days_ago, 38.0 + number)
        hostile = f"{HOSTILE} {PRIVATE_MARKER}" if repo == PRIVATE_REPO else HOSTILE
        record = _record(job_id, at, model=model, repo=repo, number=number, hostile=hostile, ok=state == "done")
        store.save_record(job_id, record)
        ids.append(job_id)
        if repo == PRIVATE_REPO:
            private = job_id
        elif state == "failed":
            failed = job_id
        elif not public:
            public = job_id
    return Seeded(public, failed, private, tuple(ids))

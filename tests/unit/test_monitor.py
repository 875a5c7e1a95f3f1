"""The PerformanceMonitor's records: the data model, its bounds and redaction, and its storage in SQLite and a
real Redis server."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from equitr import redact
from equitr.jobs.model import NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.redis import RedisStore
from equitr.jobs.store.rules import RECORD_TTL_S
from equitr.jobs.store.sqlite import SqliteStore
from equitr.monitor.records import (
    MAX_DIFF_BYTES,
    MAX_GITHUB_CALLS,
    MAX_MODEL_CALLS,
    MAX_TEST_OUTPUT_BYTES,
    GitHubCall,
    JobRecord,
    ModelCall,
    Outcome,
    PerformanceMonitor,
    Phase,
    add_listener,
    current,
    remove_listener,
    route_template,
)

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def full_record(job_id: int = 1) -> JobRecord:
    mon = PerformanceMonitor(job_id)
    with mon.phase("plan"):
        pass
    with mon.phase("step", "1"):
        pass
    mon.model_call(
        model="gpt-x",
        role="worker",
        tokens_in=100,
        tokens_out=20,
        cost_usd=0.01,
        latency_s=0.5,
        retries=1,
        mode="json_schema",
        repairs=("fence", "trailing_comma"),
    )
    mon.model_call(model="claude-y", role="reviewer", tokens_in=50, tokens_out=5, cost_usd=0.02, fallback=True)
    mon.github_call(method="post", route="/repos/o/r/issues/5/comments", status=201, rate_remaining=4999, latency_s=0.1)
    mon.outcome(
        plan=[{"tool": "edit", "subject": "bot/x.py", "description": "fix it"}],
        trajectory=[{"step": 1, "tool": "edit", "summary": "edited bot/x.py", "ok": True}],
        diff="--- a\n+++ b\n",
        tests_before={"summary": "1 failed", "output": "F"},
        tests_after={"summary": "1 passed", "output": "."},
        links={"issue_url": "https://github.com/o/r/issues/5", "pr_url": None, "comment_url": None},
    )
    return mon.record()


def test_a_record_round_trips_through_json() -> None:
    record = full_record()
    again = JobRecord.from_json(record.to_json())
    assert again == record
    assert [p.name for p in again.phases] == ["plan", "step"] and again.phases[1].detail == "1"
    assert again.model_calls[0].repairs == ("fence", "trailing_comma") and again.model_calls[1].fallback
    route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert again.github_calls == [GitHubCall("POST", route, 201, 4999, 0.1, again.github_calls[0].started_at)]
    assert again.outcome is not None
    # Filled in from the model calls: cost per model and role, repairs by kind.
    table = again.outcome.cost_by_model_role
    assert [(c["model"], c["role"]) for c in table] == [("claude-y", "reviewer"), ("gpt-x", "worker")]
    assert again.outcome.repairs == {"fence": 1, "trailing_comma": 1}
    assert again.cost_usd == pytest.approx(0.03)


def test_a_record_from_a_newer_version_with_more_fields_still_reads() -> None:
    doc = json.loads(full_record().to_json())
    doc["future"] = 1
    doc["phases"][0]["future"] = "x"
    doc["outcome"]["future"] = []
    assert JobRecord.from_json(json.dumps(doc)).phases[0].name == "plan"


def test_a_record_is_bounded() -> None:
    mon = PerformanceMonitor(3)
    for _ in range(MAX_MODEL_CALLS + 7):
        mon.model_call(model="m", role="worker")
    for _ in range(MAX_GITHUB_CALLS + 11):
        mon.github_call(method="GET", route="/repos/o/r", status=200)
    mon.outcome(
        plan=[{"tool": "t" * 999, "subject": "s" * 9999, "description": "d" * 99_999} for _ in range(1000)],
        diff="x" * (MAX_DIFF_BYTES * 3),
        tests_after={"summary": "ok", "output": "start\n" + "y" * (MAX_TEST_OUTPUT_BYTES * 4) + "\nthe end"},
        trajectory=[{"step": i, "tool": "t", "summary": "s" * 10_000, "ok": True} for i in range(5_000)],
    )
    text = mon.record().to_json()
    assert len(text.encode()) < 1024 * 1024
    kept = JobRecord.from_json(text)
    assert len(kept.model_calls) == MAX_MODEL_CALLS and kept.dropped_model_calls == 7
    assert len(kept.github_calls) == MAX_GITHUB_CALLS and kept.dropped_github_calls == 11
    assert kept.outcome is not None
    assert len(kept.outcome.diff.encode()) <= MAX_DIFF_BYTES and "diff cut at 64 KiB" in kept.outcome.diff
    after = kept.outcome.tests_after
    assert after is not None and len(after["output"].encode()) <= MAX_TEST_OUTPUT_BYTES + 200
    assert after["output"].startswith("start") and after["output"].endswith("the end")


def test_a_stored_record_is_redacted() -> None:
    key = "sk-" + secrets.token_hex(16)  # a key-shaped value made here, registered as the model key
    redact.register(key)
    try:
        mon = PerformanceMonitor(4)
        mon.outcome(
            diff=f"+token = '{TOKEN}'\n",
            tests_before={"summary": "env", "output": f"KEY={key}"},
            error=f"push failed: https://x-access-token:{TOKEN}@github.com/o/r",
            trajectory=[{"step": 1, "tool": "run", "summary": f"echo {TOKEN}", "ok": True}],
        )
        text = mon.record().to_json()
    finally:
        redact.forget(key)
    assert TOKEN not in text and key[3:] not in text
    assert redact.MASK in JobRecord.from_json(text).outcome.diff  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/repos/o/r/issues/5/comments?page=2", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        ("/repos/o/r/issues/comments/77", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
        ("https://api.github.com/repos/secret-org/private/pulls?head=a:b", "/repos/{owner}/{repo}/pulls"),
        ("/repos/o/r/git/refs/heads/feature/x", "/repos/{owner}/{repo}/git/refs/{ref}"),
        ("/repos/o/r/contents/src/a.py", "/repos/{owner}/{repo}/contents/{path}"),
        ("/repos/o/r/collaborators/alice/permission", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
        ("/app/installations/12/access_tokens", "/app/installations/{installation_id}/access_tokens"),
        ("/repos/o/r/labels/secret label", "/repos/{owner}/{repo}/labels/{name}"),
        ("/installation/repositories", "/installation/repositories"),
    ],
)
def test_github_routes_are_templated(path: str, route: str) -> None:
    assert route_template(path) == route


def test_phases_are_recorded_when_the_block_raises_and_listeners_see_every_event() -> None:
    seen: list[str] = []

    def listener(kind: str, item: object) -> None:
        seen.append(kind)
        raise RuntimeError("a broken listener never breaks a job")

    add_listener(listener)
    try:
        mon = PerformanceMonitor(5)
        with pytest.raises(ValueError), mon.phase("checkout"):
            raise ValueError("clone failed")
        mon.model_call(model="m")
        mon.github_call(method="GET", route="/rate_limit", status=200)
    finally:
        remove_listener(listener)
    assert seen == ["phase", "model_call", "github_call"]
    assert [p.name for p in mon.record().phases] == ["checkout"]


def test_the_active_monitor_is_found_by_the_seams() -> None:
    mon = PerformanceMonitor(6)
    assert current() is None
    with mon.active():
        assert current() is mon
    assert current() is None


# -- storage ---------------------------------------------------------------------------------------------------


def new_job(n: int, repo: str = "o/r") -> NewJob:
    return NewJob(kind="fix", repo=repo, number=n, requester="alice", delivery_id=f"d-{n}", installation_id=7)


def test_a_record_is_saved_replaced_and_read_back(store: JobStore) -> None:
    job = store.create(new_job(1), ["delivery:d-1"])
    assert job is not None
    assert store.record(job.id) is None
    store.save_record(job.id, JobRecord(job.id, phases=[Phase("queue_wait", 1.0, 2.0)]))
    record = full_record(job.id)
    store.save_record(job.id, record)  # replaces
    assert store.record(job.id) == record


def test_records_are_newest_first_filtered_by_repo_and_time_and_limited(store: JobStore) -> None:
    ids = []
    for n in range(1, 6):
        job = store.create(new_job(n, "o/a" if n % 2 else "o/b"), [f"delivery:d-{n}"])
        assert job is not None
        ids.append(job.id)
        if n != 3:  # job 3 has no record
            store.save_record(job.id, full_record(job.id))
    got = store.records(since=0)
    assert [j.id for j, _ in got] == [ids[4], ids[3], ids[1], ids[0]]
    assert all(j.id == r.job_id for j, r in got)
    assert [j.id for j, _ in store.records(since=0, repo="o/a")] == [ids[4], ids[0]]
    assert [j.id for j, _ in store.records(since=0, limit=2)] == [ids[4], ids[3]]
    assert store.records(since=time.time() + 60) == []


def test_a_stored_record_is_bounded_and_redacted(store: JobStore) -> None:
    job = store.create(new_job(1), ["delivery:d-1"])
    assert job is not None
    mon = PerformanceMonitor(job.id)
    for _ in range(MAX_MODEL_CALLS + 1):
        mon.model_call(model="m")
    mon.outcome(diff="z" * (MAX_DIFF_BYTES * 2), error=f"token {TOKEN}")
    store.save_record(job.id, mon.record())
    got = store.record(job.id)
    assert got is not None and len(got.model_calls) == MAX_MODEL_CALLS and got.dropped_model_calls == 1
    assert got.outcome is not None and TOKEN not in (got.outcome.error or "")
    assert len(got.outcome.diff) <= MAX_DIFF_BYTES


def test_records_are_pruned(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "jobs.db")
    kept, deleted = (store.create(new_job(n), [f"delivery:d-{n}"]) for n in (1, 2))
    assert kept is not None and deleted is not None
    store.save_record(kept.id, full_record(kept.id))
    store.save_record(deleted.id, full_record(deleted.id))
    with store._tx() as db:  # a job deleted takes its record with it
        db.execute("DELETE FROM jobs WHERE id = ?", (deleted.id,))
    assert store.record(deleted.id) is None and store.record(kept.id) is not None
    store.prune(now=time.time() + RECORD_TTL_S + 1)  # and records past their time go
    assert store.record(kept.id) is None


def test_redis_records_expire_and_leave_the_index(redis_url: str) -> None:
    store = RedisStore(redis_url, prefix=f"test:{time.monotonic_ns()}:")
    job = store.create(new_job(1), ["delivery:d-1"])
    assert job is not None
    store.save_record(job.id, full_record(job.id))
    ttl = store.redis.ttl(f"{store.prefix}record:{job.id}")
    assert 0 < ttl <= RECORD_TTL_S
    store.redis.delete(f"{store.prefix}record:{job.id}")  # as when it expires
    assert store.records(since=0) == [] and store.redis.zcard(f"{store.prefix}records") == 0
    store.close()


def test_an_unreadable_record_is_skipped(store: JobStore) -> None:
    job = store.create(new_job(1), ["delivery:d-1"])
    assert job is not None
    if isinstance(store, SqliteStore):
        with store._tx() as db:
            db.execute("INSERT INTO job_records (job_id, json, updated_at) VALUES (?, '{}', 0)", (job.id,))
    else:
        assert isinstance(store, RedisStore)
        store.save_record(job.id, JobRecord(job.id))
        store.redis.set(f"{store.prefix}record:{job.id}", "{}")
    assert store.record(job.id) is None and store.records(since=0) == []


def test_model_call_fields_are_the_contracts() -> None:
    call = ModelCall("m", "worker", 1, 2, 0.5, 0.1, 0, "tools", (), False, 0.0)
    assert Outcome().links == {"issue_url": None, "pr_url": None, "comment_url": None}
    assert call.mode == "tools"


def test_an_attempt_after_a_hand_back_carries_the_earlier_calls_but_not_their_cost_or_payment() -> None:
    """The record of a job handed back or parked shows every attempt's model calls; `cost_usd` and
    `paid_models` speak of this attempt only (the store already holds what the earlier one paid)."""
    first = PerformanceMonitor(7)
    first.model_call(model="openai/gpt-4o-mini", role="supervisor", tokens_in=100, tokens_out=20, cost_usd=0.25)
    earlier = first.record()
    second = PerformanceMonitor(7)
    second.carry(earlier)
    assert not second.paid_models and second.cost_usd == 0.0  # may still be parked: it paid nothing yet
    second.model_call(model="openai/gpt-4o-mini", role="worker", tokens_in=50, tokens_out=10, cost_usd=0.125)
    assert second.paid_models and second.cost_usd == 0.125
    record = second.record()
    assert [c.role for c in record.model_calls] == ["supervisor", "worker"]
    assert record.cost_usd == pytest.approx(0.375)

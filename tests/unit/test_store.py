"""The job store contract, run against SQLite and a real Redis server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from equitr.jobs.model import NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.rules import MAX_ATTEMPTS, is_stale, owner_is_dead, process_owner
from equitr.jobs.store.sqlite import SqliteStore


def job(n: int = 1, kind: str = "fix") -> NewJob:
    return NewJob(
        kind=kind,
        repo="o/r",
        number=n,
        requester="alice",
        delivery_id=f"d-{n}",
        installation_id=7,
        comment_id=100 + n,
        args={"text": "go", "budget_usd": 2.5},
    )


def test_create_is_deduplicated(store: JobStore) -> None:
    first = store.create(job(), ["delivery:d-1", "comment:101"])
    assert first is not None and first.state == "queued"
    assert store.create(job(), ["delivery:d-1"]) is None
    assert store.create(job(), ["delivery:other", "comment:101"]) is None  # same comment, new delivery
    assert len(store.jobs()) == 1
    got = store.get(first.id)
    assert got is not None and got.args == {"text": "go", "budget_usd": 2.5} and got.comment_id == 101


def test_uid_survives_and_every_job_is_listed_without_a_limit(store: JobStore) -> None:
    made = [store.create(job(n), [f"delivery:d-{n}"]) for n in range(1, 26)]
    assert all(j is not None for j in made)
    uids = {j.uid for j in made if j is not None}
    assert len(uids) == 25  # unique, and the marker ID of each job's comments
    got = store.get(made[0].id)  # type: ignore[union-attr]
    assert got is not None and got.uid == made[0].uid and got.ref == got.uid  # type: ignore[union-attr]
    assert len(store.jobs(limit=None)) == 25 and len(store.jobs(limit=20)) == 20


def test_claim_is_exclusive_and_lease_is_held(store: JobStore) -> None:
    created = store.create(job(), ["delivery:d-1"])
    assert created is not None
    a = store.claim(created.id, "host:1:a", 30)
    assert a is not None and a.state == "running" and a.attempts == 1
    assert store.claim(created.id, "host:2:b", 30) is None  # no second runner
    assert store.heartbeat(created.id, "host:2:b", 30) is None  # not the owner
    assert store.heartbeat(created.id, "host:1:a", 30) is not None
    assert not store.finish(created.id, "host:2:b", "done")
    assert store.finish(created.id, "host:1:a", "done", "ok", 0.25)
    done = store.get(created.id)
    assert done is not None and done.state == "done" and done.cost_usd == 0.25 and done.finished_at
    assert store.claim(created.id, "host:1:a", 30) is None  # ended jobs never run again
    assert store.active() == []


def test_cancel_queued_and_running(store: JobStore) -> None:
    queued = store.create(job(1), ["delivery:d-1"])
    running = store.create(job(2), ["delivery:d-2"])
    assert queued and running
    store.claim(running.id, "o", 30)
    q = store.request_cancel(queued.id)
    assert q is not None and q.state == "cancelled"
    r = store.request_cancel(running.id)
    assert r is not None and r.state == "running" and r.cancel_requested
    beat = store.heartbeat(running.id, "o", 30)
    assert beat is not None and beat.cancel_requested


def test_requeue_after_crash_and_give_up(store: JobStore) -> None:
    created = store.create(job(), ["delivery:d-1"])
    assert created
    for attempt in range(3):
        claimed = store.claim(created.id, f"dead:{attempt}", 0.01)
        assert claimed is not None and claimed.attempts == attempt + 1
        time.sleep(0.02)
        stale = store.get(created.id)
        assert stale is not None and is_stale(stale, time.time())
        assert store.requeue(created.id, f"dead:{attempt}")
    assert store.claim(created.id, "next", 30) is None  # a job that killed 3 workers is not tried a 4th time
    final = store.get(created.id)
    assert final is not None and final.state == "failed" and "3 attempts" in final.reason


def test_remember_once(store: JobStore) -> None:
    assert store.remember("refusal:o/r#1:bob")
    assert not store.remember("refusal:o/r#1:bob")
    assert store.seen("refusal:o/r#1:bob")


def test_listing_filters_newest_first(store: JobStore) -> None:
    for n in (1, 2, 1):
        store.create(NewJob("fix", "o/r", n, "a", f"d{time.monotonic_ns()}"), [f"delivery:{time.monotonic_ns()}"])
    store.create(NewJob("fix", "o/other", 1, "a", "dx"), ["delivery:dx"])
    ids = [j.id for j in store.jobs(repo="o/r", number=1)]
    assert len(ids) == 2 and ids == sorted(ids, reverse=True)
    assert len(store.jobs(limit=2)) == 2


def test_installations(store: JobStore) -> None:
    store.record_installation(5, "octo", "created", ["octo/a"])
    store.record_installation(5, "octo", "added", ["octo/a", "octo/b"])
    (inst,) = store.installations()
    assert inst["repos"] == ["octo/a", "octo/b"] and inst["action"] == "added"


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    s = SqliteStore(path)
    created = s.create(job(), ["delivery:d-1"])
    s.close()
    again = SqliteStore(path)
    assert created is not None and again.get(created.id) is not None
    assert again.create(job(), ["delivery:d-1"]) is None  # dedupe keys outlive the process


def test_sqlite_prunes_only_old_keys(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "jobs.db")
    s.remember("fresh")
    assert s.prune(now=time.time() + 31 * 24 * 3600) == 0  # still kept after 30 days
    assert s.prune(now=time.time() + 46 * 24 * 3600) == 1


def test_owner_liveness() -> None:
    me = process_owner()
    assert not owner_is_dead(me)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    host = me.split(":")[0]
    start = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
    owner = f"{host}:{child.pid}:{start}"
    assert not owner_is_dead(owner)
    child.kill()
    child.wait()
    assert owner_is_dead(owner)
    assert not owner_is_dead("other-host:1:1")  # can't tell for another machine: wait for the lease
    assert os.getpid() > 0


def test_an_ending_keeps_its_report_until_delivered(store: JobStore) -> None:
    """R2: the report is stored with the end state; it becomes due after the runner's hold, is taken by one
    deliverer only, waits after a failure, and is gone once delivered."""
    created = store.create(job(), ["delivery:d-1"])
    assert created and store.claim(created.id, "o", 30)
    assert store.reports_due(time.time() + 3600) == []
    assert store.finish(created.id, "o", "failed", "boom", report='{"state": "failed"}')
    assert store.reports_due(time.time()) == []  # the runner delivers it first
    (due,) = store.reports_due(time.time() + 120)
    assert (due.job_id, due.report, due.tries) == (created.id, '{"state": "failed"}', 0)
    assert store.take_report(created.id, due.next_at, time.time() + 30)
    assert not store.take_report(created.id, due.next_at, time.time() + 30)  # a second deliverer backs off
    store.report_failed(created.id, 1, time.time() + 600)
    assert store.reports_due(time.time() + 300) == []
    (again,) = store.reports_due(time.time() + 900)
    assert again.tries == 1
    store.report_done(created.id)
    assert store.reports_due(time.time() + 10**6) == []


def test_a_job_given_up_leaves_a_report(store: JobStore) -> None:
    """R2 (a): the give-up branch of claim writes the ending's report itself, due at once."""
    created = store.create(job(), ["delivery:d-1"])
    assert created
    for attempt in range(3):
        assert store.claim(created.id, f"dead:{attempt}", 0.01)
        assert store.requeue(created.id, f"dead:{attempt}")
    assert store.claim(created.id, "next", 30) is None
    (due,) = store.reports_due(time.time())
    assert due.job_id == created.id and '"lost": true' in due.report and "3 attempts" in due.report


def test_release_at_shutdown_does_not_count_an_attempt(store: JobStore) -> None:
    """A deploy's SIGTERM hands the job back: three of them never make it give up (R3)."""
    created = store.create(job(), ["delivery:d-release"])
    assert created
    for deploy in range(MAX_ATTEMPTS + 1):
        claimed = store.claim(created.id, f"host:{deploy}:1", 60)
        assert claimed is not None and claimed.attempts == 1
        assert not store.release(created.id, "someone-else")  # only the owner hands it back
        assert store.release(created.id, f"host:{deploy}:1")
        again = store.get(created.id)
        assert again is not None and again.state == "queued" and again.attempts == 0 and again.owner == ""


def test_what_a_handed_back_attempt_paid_stays_in_the_jobs_cost(store: JobStore) -> None:
    """A job handed back (a deploy) or parked (a rate limit) after paying for models keeps that cost: the
    month's spending and `/equitr cost` count every attempt, not only the one that ended the job."""
    created = store.create(job(), ["delivery:d-cost"])
    assert created and store.claim(created.id, "host:1:1", 60)
    assert not store.release(created.id, "someone-else", cost_usd=9.0)  # not the owner: nothing added
    assert store.release(created.id, "host:1:1", cost_usd=0.25)
    assert store.claim(created.id, "host:2:1", 60)
    assert store.release(created.id, "host:2:1", hold_until=time.time() + 60, cost_usd=0.125)
    assert store.claim(created.id, "host:3:1", 60)
    assert store.finish(created.id, "host:3:1", "done", "PR #2", 0.5)
    ended = store.get(created.id)
    assert ended is not None and ended.cost_usd == pytest.approx(0.875) and ended.attempts == 1


def test_a_job_parked_until_later_is_left_alone_by_the_sweeper_until_then(store: JobStore) -> None:
    created = store.create(job(), ["delivery:d-park"])
    assert created and store.claim(created.id, "host:1:1", 60)
    later = time.time() + 600
    assert store.release(created.id, "host:1:1", hold_until=later)
    parked = store.get(created.id)
    assert parked is not None and parked.state == "queued" and parked.attempts == 0
    assert not is_stale(parked, time.time()) and is_stale(parked, later + 31)

"""The dashboard's query, answered by the store (`JobStore.find_jobs`, `JobStore.job_choices`), against SQLite and
a real Redis server: filters, pages and counts, and the access rule (a viewer never gets, or counts, a job of a
repository they may not see; repository names compare case-insensitively)."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import replace

import httpx

from equitr.jobs.model import Job, NewJob
from equitr.jobs.store import JobStore
from equitr.jobs.store.query import JobQuery
from equitr.jobs.store.redis import RedisStore
from equitr.web.dashboard import AuthConfig, create_dashboard

OWNER = "test:1:1"


def make(store: JobStore, n: int, repo: str, kind: str, end: str) -> Job:
    """A job on `repo`, left queued, running, or ended as `end`."""
    job = store.create(NewJob(kind=kind, repo=repo, number=n, requester="a", delivery_id=f"d{n}"), [f"k{n}"])
    assert job is not None
    if end == "cancelled":
        store.request_cancel(job.id)
    elif end != "queued":
        assert store.claim(job.id, OWNER, 60) is not None
        if end != "running":
            assert store.finish(job.id, OWNER, end, "", 0.0)  # type: ignore[arg-type]
    got = store.get(job.id)
    assert got is not None and got.state == end
    return got


REPOS = ("Octo/App", "octo/secret", "other/x")
KINDS = ("fix", "review")
ENDS = ("done", "failed", "queued", "running", "cancelled")


def seed(store: JobStore, count: int = 60) -> list[Job]:
    """`count` jobs over three repositories (one spelled with capitals), two kinds and every state."""
    return [make(store, n, REPOS[n % 3], KINDS[n % 2 if n % 3 != 2 else 0], ENDS[n % 5]) for n in range(count)]


def expected(jobs: list[Job], query: JobQuery) -> list[Job]:
    """The reference answer: every job, filtered in Python, newest first."""
    return sorted((j for j in jobs if query.admits(j)), key=lambda j: -j.id)


def test_every_combination_of_filters_matches_filtering_every_job(store: JobStore) -> None:
    jobs = seed(store)
    cut = sorted(j.created_at for j in jobs)
    ranges = [(-math.inf, math.inf), (cut[10], math.inf), (-math.inf, cut[40]), (cut[10], cut[40])]
    viewers = [None, frozenset({"octo/app"}), frozenset({"octo/app", "octo/secret"}), frozenset()]
    for visible, repo, kind, state, (since, until) in itertools.product(
        viewers, ["", "octo/app", "OCTO/SECRET"], ["", "review"], ["", "failed", "running"], ranges
    ):
        query = JobQuery(visible=visible, repo=repo, kind=kind, state=state, since=since, until=until, limit=7)
        want = expected(jobs, query)
        found = store.find_jobs(query)
        assert found.total == len(want), query
        assert [j.id for j in found.jobs] == [j.id for j in want[:7]], query
        second = store.find_jobs(replace(query, offset=7))
        assert [j.id for j in second.jobs] == [j.id for j in want[7:14]], query


def test_a_viewer_gets_and_counts_only_the_repositories_they_may_see(store: JobStore) -> None:
    jobs = seed(store, 30)
    mine = frozenset({"octo/app"})  # as a GitHub sign-in lists it: lower-cased
    found = store.find_jobs(JobQuery(visible=mine, limit=100))
    assert {j.repo for j in found.jobs} == {"Octo/App"}  # stored with capitals, seen all the same
    assert found.total == sum(j.repo == "Octo/App" for j in jobs) == 10
    # Asking for someone else's repository looks exactly like asking for one without jobs.
    theirs = store.find_jobs(JobQuery(visible=mine, repo="octo/secret", limit=100))
    nothing = store.find_jobs(JobQuery(visible=mine, repo="octo/no-such-repo", limit=100))
    assert (theirs.jobs, theirs.total) == (nothing.jobs, nothing.total) == ([], 0)
    assert store.find_jobs(JobQuery(visible=frozenset(), limit=100)).total == 0


def test_a_job_changing_state_moves_between_the_state_filters(store: JobStore) -> None:
    job = make(store, 1, "o/r", "fix", "queued")
    queued = JobQuery(state="queued")
    assert [j.id for j in store.find_jobs(queued).jobs] == [job.id]
    assert store.claim(job.id, OWNER, 60) is not None
    assert store.find_jobs(queued).total == 0 and store.find_jobs(JobQuery(state="running")).total == 1
    assert store.release(job.id, OWNER)
    assert store.find_jobs(queued).total == 1 and store.find_jobs(JobQuery(state="running")).total == 0
    assert store.claim(job.id, OWNER, 60) is not None
    assert store.finish(job.id, OWNER, "failed", "broke")
    assert [j.state for j in store.find_jobs(JobQuery(state="failed")).jobs] == ["failed"]
    assert sum(store.find_jobs(JobQuery(state=s)).total for s in ENDS) == 1


def test_the_filters_offer_only_what_the_viewer_may_see(store: JobStore) -> None:
    seed(store, 30)
    make(store, 100, "octo/secret", "explain", "done")  # a kind only the secret repository has
    everything = store.job_choices(None)
    assert everything.repos == ["Octo/App", "octo/secret", "other/x"]
    assert everything.kinds == ["explain", "fix", "review"]
    mine = store.job_choices(frozenset({"octo/app", "octo/elsewhere"}))
    assert (mine.repos, mine.kinds) == (["Octo/App"], ["fix", "review"])
    assert store.job_choices(frozenset()).repos == []


def test_a_redis_store_from_before_the_indexes_is_indexed_at_start(redis_url: str) -> None:
    prefix = f"test:{time.monotonic_ns()}:"
    old = RedisStore(redis_url, prefix=prefix)
    jobs = seed(old, 20)
    # What an older equitr left: the jobs and their id index, none of the dashboard's indexes.
    stale = [k for k in old.redis.scan_iter(f"{prefix}*") if b":jobs:" in k or k.endswith((b":repos", b":kinds"))]
    stale += list(old.redis.scan_iter(f"{prefix}kinds:*"))
    old.redis.delete(*stale)
    assert old.find_jobs(JobQuery(state="failed")).total == 0
    old.close()
    store = RedisStore(redis_url, prefix=prefix)
    for query in (JobQuery(state="failed"), JobQuery(visible=frozenset({"octo/app"})), JobQuery(kind="review")):
        assert [j.id for j in store.find_jobs(query).jobs] == [j.id for j in expected(jobs, query)]
    assert store.job_choices(None).repos == ["Octo/App", "octo/secret", "other/x"]
    assert not list(store.redis.scan_iter(f"{prefix}query:*"))  # no temporary key outlives its query
    store.close()


async def test_the_jobs_page_lists_counts_and_pages_from_the_store(store: JobStore) -> None:
    """Through the dashboard: a page past the end shows the last one, and the count is the viewer's."""
    for n in range(120):
        make(store, n, "octo/app", "fix", "done")
    app = create_dashboard(store, AuthConfig(token="t" * 20))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        await http.post("/login", data={"token": "t" * 20})
        first = await http.get("/", params={"repo": "OCTO/APP"})
        assert "120 jobs" in first.text and "page 1 of 3" in first.text and "octo/app#119" in first.text
        last = await http.get("/", params={"page": "9"})
        assert "page 3 of 3" in last.text and "octo/app#0<" in last.text and "octo/app#19<" in last.text
        assert "octo/app#20<" not in last.text
        none = await http.get("/", params={"kind": "review"})
        assert "0 jobs" in none.text and "No jobs match." in none.text


def test_a_date_range_cuts_exactly_at_the_stored_creation_times(store: JobStore) -> None:
    """The index and the documents agree to the last digit (Redis keeps 14 significant digits of a time)."""
    jobs = seed(store, 20)
    for job in jobs:
        before = store.find_jobs(JobQuery(until=job.created_at, limit=100))
        assert before.total == len(before.jobs) == sum(j.created_at < job.created_at for j in jobs)
        after = store.find_jobs(JobQuery(since=job.created_at, limit=100))
        assert after.total == len(after.jobs) == sum(j.created_at >= job.created_at for j in jobs)

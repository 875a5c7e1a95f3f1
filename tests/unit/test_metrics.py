"""`equitr.jobs.metrics`: a job's record folded into the store's counters once, and read back in Prometheus's text
format (checked with prometheus-client's own parser), against SQLite and a real Redis server."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from equitr.jobs.metrics import StoreCollector, fold
from equitr.jobs.model import Job, NewJob
from equitr.jobs.store import JobStore
from equitr.monitor.records import PerformanceMonitor


def scrape(store: JobStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def a_record(job_id: int) -> PerformanceMonitor:
    mon = PerformanceMonitor(job_id)
    mon.add_phase("queue_wait", 0.0, 0.3)
    mon.add_phase("plan", 0.0, 7.0)
    mon.add_phase("step", 0.0, 0.2, "1")
    mon.add_phase("step", 0.0, 0.4, "2")
    mon.model_call(
        model="openai/m", role="supervisor", tokens_in=100, tokens_out=10, cost_usd=0.5, latency_s=1.5, retries=2
    )
    mon.note_repairs(["strip_fence", "json_repair"], fallback=True)
    mon.model_call(model="ollama/w", role="worker", tokens_in=40, tokens_out=4, cost_usd=0.0, latency_s=0.2)
    mon.github_call(method="GET", route="/repos/o/r/issues/1", status=200, rate_remaining=4990, latency_s=0.1)
    mon.github_call(method="POST", route="/repos/o/r/issues/1/comments", status=502, latency_s=0.2)
    mon.github_call(method="POST", route="/repos/o/r/issues/1/comments", status=201, rate_remaining=4988)
    return mon


def ended(store: JobStore, n: int) -> Job:
    job = store.create(NewJob("fix", "o/r", n, "alice", f"d-{n}", installation_id=7), [f"delivery:d-{n}"])
    assert job is not None
    return job.with_(started_at=job.created_at)


def test_every_metric_of_a_job_and_each_job_counted_once(store: JobStore) -> None:
    job = ended(store, 1)
    record = a_record(job.id).record()
    share = fold(job, record, "done", now=job.created_at + 42)
    assert store.add_metrics(job.id, share.inc, share.set)
    assert not store.add_metrics(job.id, share.inc, share.set)  # a second ending of the same job adds nothing
    other = ended(store, 2)
    share2 = fold(other, a_record(other.id).record(), "failed", now=other.created_at + 1)
    assert store.add_metrics(other.id, share2.inc, share2.set)

    got = scrape(store)
    assert got["equitr_jobs_finished_total", (("kind", "fix"), ("outcome", "done"))] == 1
    assert got["equitr_jobs_finished_total", (("kind", "fix"), ("outcome", "failed"))] == 1
    assert got["equitr_job_duration_seconds_count", (("kind", "fix"), ("outcome", "done"))] == 1
    assert got["equitr_job_duration_seconds_sum", (("kind", "fix"), ("outcome", "done"))] == 42
    assert got["equitr_job_duration_seconds_bucket", (("kind", "fix"), ("le", "30.0"), ("outcome", "done"))] == 0
    assert got["equitr_job_duration_seconds_bucket", (("kind", "fix"), ("le", "60.0"), ("outcome", "done"))] == 1
    assert got["equitr_phase_duration_seconds_count", (("phase", "step"),)] == 4
    assert got["equitr_phase_duration_seconds_sum", (("phase", "plan"),)] == 14
    assert got["equitr_phase_duration_seconds_bucket", (("le", "5.0"), ("phase", "plan"))] == 0
    assert got["equitr_phase_duration_seconds_bucket", (("le", "10.0"), ("phase", "plan"))] == 2
    assert got["equitr_phase_duration_seconds_bucket", (("le", "+Inf"), ("phase", "queue_wait"))] == 2
    sup = (("model", "openai/m"), ("role", "supervisor"))
    assert got["equitr_model_calls_total", sup] == 2
    assert got["equitr_model_tokens_total", (("direction", "in"), *sup)] == 200
    assert got["equitr_model_tokens_total", (("direction", "out"), *sup)] == 20
    assert got["equitr_model_cost_usd_total", sup] == 1.0
    assert got["equitr_model_latency_seconds_sum", sup] == 3.0
    assert got["equitr_model_latency_seconds_bucket", (("le", "1.0"), *sup)] == 0
    assert got["equitr_model_latency_seconds_bucket", (("le", "2.0"), *sup)] == 2
    assert got["equitr_model_retries_total", (("model", "openai/m"),)] == 4
    assert got["equitr_interpretation_repairs_total", (("kind", "strip_fence"), ("model", "openai/m"))] == 2
    assert got["equitr_interpretation_fallbacks_total", (("model", "openai/m"),)] == 2
    assert ("equitr_interpretation_fallbacks_total", (("model", "ollama/w"),)) not in got
    assert got["equitr_model_calls_total", (("model", "ollama/w"), ("role", "worker"))] == 2
    comments = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert got["equitr_github_calls_total", (("method", "POST"), ("route", comments), ("status", "502"))] == 2
    assert got["equitr_github_calls_total", (("method", "POST"), ("route", comments), ("status", "201"))] == 2
    assert got["equitr_github_latency_seconds_count", (("method", "GET"),)] == 2
    assert got["equitr_github_rate_limit_remaining", (("installation", "7"),)] == 4988
    assert got["equitr_jobs", (("state", "running"),)] == 0 and got["equitr_jobs", (("state", "queued"),)] == 2
    assert got["equitr_queue_depth", ()] == 2 and got["equitr_queue_oldest_age_seconds", ()] >= 0


def test_an_empty_store_has_every_family_and_no_stale_job_gauge(store: JobStore) -> None:
    got = scrape(store)
    assert got["equitr_jobs", (("state", "running"),)] == 0 and got["equitr_queue_depth", ()] == 0
    job = store.create(NewJob("fix", "o/r", 1, "alice", "d-1"), ["delivery:d-1"])
    assert job is not None and store.claim(job.id, "me", 60) is not None
    assert scrape(store)["equitr_jobs", (("state", "running"),)] == 1
    assert store.finish(job.id, "me", "done")
    assert scrape(store)["equitr_jobs", (("state", "running"),)] == 0  # computed at scrape time: never stale

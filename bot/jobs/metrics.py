"""What `/metrics` shows about jobs, models and GitHub: folded from each job's monitor record into the store,
read back when Prometheus scrapes.

Why the store and not prometheus-client's in-process metrics (or its multiprocess mode): jobs run in other
processes than the one that serves `/metrics` — `equitr worker` processes, often on other machines sharing
one Redis — and prometheus-client's multiprocess mode only joins processes on one machine sharing one
directory, and loses a dead process's gauges. So each job's record is folded, once, into counters kept in
the store (`JobStore.add_metrics`, exactly once per job even when two processes end it), and `/metrics`
reads those counters and the live job states (running, queued, the oldest queued job's age) from the store at
scrape time. Every `equitr serve` that shares the store shows the same totals; a restart resets nothing.

Only the webhook's own measurements (`equitr_webhook_*`) are kept in the serving process: that process is
the one that answers webhooks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from equitr.jobs.model import Job
from equitr.jobs.store import JobStore
from equitr.monitor.records import JobRecord

INF = math.inf
PHASE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, INF)
JOB_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, INF)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, INF)
GITHUB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, INF)

# name → (type, help, label names, buckets for histograms)
FAMILIES: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {
    "equitr_jobs_finished": ("counter", "Jobs that ended, by kind and outcome", ("kind", "outcome"), ()),
    "equitr_job_duration_seconds": (
        "histogram",
        "Time from a job's start to its end, by kind and outcome",
        ("kind", "outcome"),
        JOB_BUCKETS,
    ),
    "equitr_phase_duration_seconds": (
        "histogram",
        "Duration of each phase of a job (queue_wait, checkout, setup, plan, step, tests_before, tests_after, "
        "review, push, comment)",
        ("phase",),
        PHASE_BUCKETS,
    ),
    "equitr_model_calls": ("counter", "Model calls, by model and role", ("model", "role"), ()),
    "equitr_model_tokens": (
        "counter",
        "Model tokens, by model, role and direction (in: prompt, out: completion)",
        ("model", "role", "direction"),
        (),
    ),
    "equitr_model_cost_usd": ("counter", "Model cost in US dollars, by model and role", ("model", "role"), ()),
    "equitr_model_latency_seconds": (
        "histogram",
        "Model call latency (retries included), by model and role",
        ("model", "role"),
        LATENCY_BUCKETS,
    ),
    "equitr_model_retries": ("counter", "Model requests sent again by the model client, by model", ("model",), ()),
    "equitr_model_fallback_answers": (
        "counter",
        "Model calls answered by the fallback model because the primary kept failing, by fallback model",
        ("model",),
        (),
    ),
    "equitr_interpretation_repairs": (
        "counter",
        "Repairs the interpretation layer made to model replies, by model and repair kind",
        ("model", "kind"),
        (),
    ),
    "equitr_interpretation_fallbacks": (
        "counter",
        "Replies with no usable plan, where the keyword fallback plan ran instead, by model "
        "(the fallback rate is this over equitr_model_calls_total)",
        ("model",),
        (),
    ),
    "equitr_github_calls": (
        "counter",
        "GitHub API requests made by jobs (each try), by method, templated route and status (0: no answer)",
        ("method", "route", "status"),
        (),
    ),
    "equitr_github_latency_seconds": (
        "histogram",
        "GitHub API request latency in jobs, by method",
        ("method",),
        GITHUB_BUCKETS,
    ),
    "equitr_github_rate_limit_remaining": (
        "gauge",
        "GitHub's x-ratelimit-remaining as last seen by a job, by installation ('token' without one)",
        ("installation",),
        (),
    ),
}


def series(name: str, **labels: str) -> str:
    """The store's key of one time series: its name and sorted labels, as JSON."""
    return json.dumps([name, sorted(labels.items())], separators=(",", ":"))


def parse_series(key: str) -> tuple[str, dict[str, str]]:
    name, labels = json.loads(key)
    return str(name), {str(k): str(v) for k, v in labels}


@dataclass(slots=True)
class Fold:
    """Increments of counters (and histogram buckets, counts and sums) and values of gauges."""

    inc: dict[str, float] = field(default_factory=dict)
    set: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, value: float = 1.0, /, **labels: str) -> None:
        key = series(name, **labels)
        self.inc[key] = self.inc.get(key, 0.0) + value

    def observe(self, name: str, value: float, /, **labels: str) -> None:
        """A histogram observation as cumulative bucket counters, a count and a sum."""
        for bound in FAMILIES[name][3]:
            if value <= bound:
                self.add(f"{name}_bucket", le=_le(bound), **labels)
        self.add(f"{name}_count", **labels)
        self.add(f"{name}_sum", value, **labels)


def fold(job: Job, record: JobRecord, outcome: str, *, now: float | None = None) -> Fold:
    """What one ended job adds to the metrics. Pure."""
    out = Fold()
    end = time.time() if now is None else now
    out.add("equitr_jobs_finished", kind=job.kind, outcome=outcome)
    if job.started_at is not None:
        out.observe("equitr_job_duration_seconds", max(0.0, end - job.started_at), kind=job.kind, outcome=outcome)
    for phase in record.phases:
        out.observe("equitr_phase_duration_seconds", phase.seconds, phase=phase.name)
    for call in record.model_calls:
        model, role = call.model, call.role
        out.add("equitr_model_calls", model=model, role=role)
        out.add("equitr_model_tokens", call.tokens_in, model=model, role=role, direction="in")
        out.add("equitr_model_tokens", call.tokens_out, model=model, role=role, direction="out")
        out.add("equitr_model_cost_usd", call.cost_usd, model=model, role=role)
        out.observe("equitr_model_latency_seconds", call.latency_s, model=model, role=role)
        if call.retries:
            out.add("equitr_model_retries", call.retries, model=call.model)
        if call.served_by_fallback:
            out.add("equitr_model_fallback_answers", model=call.model)
        for kind in call.repairs:
            out.add("equitr_interpretation_repairs", model=call.model, kind=kind)
        if call.fallback:
            out.add("equitr_interpretation_fallbacks", model=call.model)
    installation = str(job.installation_id) if job.installation_id is not None else "token"
    for gh in record.github_calls:
        out.add("equitr_github_calls", method=gh.method, route=gh.route, status=str(gh.status))
        out.observe("equitr_github_latency_seconds", gh.latency_s, method=gh.method)
    last_seen = [c.rate_remaining for c in record.github_calls if c.rate_remaining is not None]
    if last_seen:
        out.set[series("equitr_github_rate_limit_remaining", installation=installation)] = float(last_seen[-1])
    return out


def _le(bound: float) -> str:
    return "+Inf" if bound == INF else repr(float(bound))


# -- scrape time ---------------------------------------------------------------------------------------------


class StoreCollector(Collector):
    """The metrics kept in the store, and the live job states, read at each scrape."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from live_metrics(self.store.active(), now=time.time())
        yield from stored_metrics(self.store.metric_values())


def live_metrics(active: list[Job], *, now: float) -> Iterator[Metric]:
    """Jobs by state, the queue's depth and its oldest job's age: computed now, never a stale gauge."""
    states = GaugeMetricFamily("equitr_jobs", "Jobs queued or running now, by state", labels=["state"])
    counts = {"queued": 0, "running": 0}
    for job in active:
        counts[job.state] = counts.get(job.state, 0) + 1
    for state, n in sorted(counts.items()):
        states.add_metric([state], n)
    yield states
    queued = [j for j in active if j.state == "queued"]
    yield GaugeMetricFamily("equitr_queue_depth", "Jobs waiting for a worker", value=len(queued))
    oldest = min((j.created_at for j in queued), default=now)
    yield GaugeMetricFamily(
        "equitr_queue_oldest_age_seconds",
        "Age of the oldest job waiting for a worker (0 when none waits)",
        value=max(0.0, now - oldest),
    )


def stored_metrics(values: Mapping[str, float]) -> Iterator[Metric]:
    by_name: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for key, value in values.items():
        try:
            name, labels = parse_series(key)
        except (ValueError, TypeError):
            continue
        base = next((n for n in FAMILIES if name == n or name.startswith(n + "_")), None)
        if base is not None:
            by_name.setdefault(base, []).append((name, labels, value))
    for name, (kind, help_text, label_names, buckets) in FAMILIES.items():
        samples = by_name.get(name, [])
        if kind == "counter":
            counter = CounterMetricFamily(name, help_text, labels=list(label_names))
            for _, labels, value in sorted(samples, key=lambda s: sorted(s[1].items())):
                counter.add_metric([labels.get(n, "") for n in label_names], value)
            yield counter
        elif kind == "gauge":
            gauge = GaugeMetricFamily(name, help_text, labels=list(label_names))
            for _, labels, value in sorted(samples, key=lambda s: sorted(s[1].items())):
                gauge.add_metric([labels.get(n, "") for n in label_names], value)
            yield gauge
        else:
            yield _histogram(name, help_text, label_names, buckets, samples)


def _histogram(
    name: str,
    help_text: str,
    label_names: tuple[str, ...],
    bounds: tuple[float, ...],
    samples: list[tuple[str, dict[str, str], float]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, help_text, labels=list(label_names))
    groups: dict[tuple[str, ...], dict[str, float]] = {}
    for sample_name, labels, value in samples:
        key = tuple(labels.get(n, "") for n in label_names)
        group = groups.setdefault(key, {})
        if sample_name == f"{name}_bucket":
            group[labels.get("le", "")] = value
        elif sample_name == f"{name}_sum":
            group["sum"] = value
        elif sample_name == f"{name}_count":
            group["count"] = value
    for key, group in sorted(groups.items()):
        buckets = [(_le(b), group.get(_le(b), 0.0)) for b in bounds]
        family.add_metric(list(key), buckets, group.get("sum", 0.0))
    return family

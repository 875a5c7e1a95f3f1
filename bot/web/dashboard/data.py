"""What the dashboard's pages show, computed from jobs (and their monitor records). Pure: no I/O (the store
answers the list's query, `equitr.jobs.store.query`)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from equitr.errors import BadFilter
from equitr.jobs.model import Job
from equitr.jobs.store.query import JobChoices, JobQuery
from equitr.monitor.records import PHASES, JobRecord

PAGE_SIZE = 50
STATES = ("queued", "running", "done", "failed", "cancelled")
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class JobFilter:
    repo: str = ""
    kind: str = ""
    state: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive (UTC)
    until: str = ""  # YYYY-MM-DD, inclusive (UTC)
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> JobFilter:
        page_text = query.get("page", "1").strip() or "1"
        if not page_text.isdigit() or int(page_text) < 1 or len(page_text) > 6:
            raise BadFilter("page must be a whole number from 1")
        state = query.get("state", "").strip()
        if state and state not in STATES:
            raise BadFilter(f"state must be one of {', '.join(STATES)}")
        made = cls(
            repo=query.get("repo", "").strip()[:200],
            kind=query.get("kind", "").strip()[:50],
            state=state,
            since=query.get("since", "").strip(),
            until=query.get("until", "").strip(),
            page=int(page_text),
        )
        made.bounds()  # a bad date is reported now
        return made

    def bounds(self) -> tuple[float, float]:
        """The date range as epoch seconds [from, to)."""
        start = _day(self.since, "from") if self.since else -math.inf
        end = _day(self.until, "to") + DAY_S if self.until else math.inf
        return start, end

    def matches(self, job: Job) -> bool:
        return self.store_query(None).admits(job)

    def store_query(self, visible: frozenset[str] | None, size: int = PAGE_SIZE) -> JobQuery:
        """The store's query for this filter's page, for someone who may see `visible` (None: everything)."""
        start, end = self.bounds()
        return JobQuery(
            visible=visible,
            repo=self.repo,
            kind=self.kind,
            state=self.state,
            since=start,
            until=end,
            offset=(self.page - 1) * size,
            limit=size,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (for links to other pages of the same list)."""
        data = {"repo": self.repo, "kind": self.kind, "state": self.state, "since": self.since, "until": self.until}
        data.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in data.items() if v and not (k == "page" and v == "1")}


def _day(text: str, which: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise BadFilter(f"the {which} date must look like 2026-01-31") from None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Job]
    number: int
    pages: int
    total: int


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / size))


def paginate(jobs: Sequence[Job], page: int, size: int = PAGE_SIZE) -> Page:
    pages = page_count(len(jobs), size)
    number = min(page, pages)
    return Page(list(jobs[(number - 1) * size : number * size]), number, pages, len(jobs))


def choices(found: JobChoices) -> dict[str, list[str]]:
    """The values the list's filters offer."""
    return {"repos": list(found.repos), "kinds": list(found.kinds), "states": list(STATES)}


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (`q` in 0..100) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def day_of(ts: float) -> float:
    return math.floor(ts / DAY_S) * DAY_S


def series_by_day(items: Iterable[tuple[float, str, float]], *, top: int = 8) -> dict[str, Any]:
    """(timestamp, label, amount) → a chart's data: `x` (days, epoch s) and one series per label (daily sums),
    the largest `top` labels by total and the rest summed as "other"."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for ts, label, value in items:
        sums[label][day_of(ts)] += value
    seen = {d for per in sums.values() for d in per}
    # Every day from the first to the last, so that a day without cost reads as $0, not as a line across it.
    days = [min(seen) + i * DAY_S for i in range(round((max(seen) - min(seen)) / DAY_S) + 1)] if seen else []
    ranked = sorted(sums, key=lambda label: (-sum(sums[label].values()), label))
    keep, rest = ranked[:top], ranked[top:]
    series = [{"label": label, "values": [round(sums[label].get(d, 0.0), 6) for d in days]} for label in keep]
    if rest:
        other = [round(sum(sums[label].get(d, 0.0) for label in rest), 6) for d in days]
        series.append({"label": "other", "values": other})
    return {"x": days, "series": series}


def job_phase_seconds(job: Job) -> dict[str, float]:
    """The durations a job's own row tells (without a monitor record): waiting in the queue, and running."""
    out: dict[str, float] = {}
    if job.started_at is not None:
        out["queue_wait"] = max(0.0, job.started_at - job.created_at)
        if job.finished_at is not None:
            out["run"] = max(0.0, job.finished_at - job.started_at)
    return out


def phase_table(durations: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    """p50 and p99 per phase, in the order a job goes through them."""
    order = {name: i for i, name in enumerate(PHASE_ORDER)}
    return [
        {"phase": name, "count": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99)}
        for name, values in sorted(durations.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        if values
    ]


PHASE_ORDER = (*PHASES, "run")  # the monitor's phases, then the whole run


def when(ts: float | None) -> str:
    """A timestamp as people read it (UTC)."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def model_rates(records: Iterable[JobRecord]) -> list[dict[str, Any]]:
    """Per model: calls, the share whose reply needed a repair, the share a fallback model answered, retries."""
    calls: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for record in records:
        for call in record.model_calls:
            row = calls[call.model]
            row[0] += 1
            row[1] += 1 if call.repairs else 0
            row[2] += 1 if call.fallback else 0
            row[3] += call.retries
    return [
        {"model": m, "calls": n, "repair_rate": r / n, "fallback_rate": f / n, "retries": t}
        for m, (n, r, f, t) in sorted(calls.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]


def cost_by_model(records: Iterable[JobRecord]) -> dict[str, Any]:
    return series_by_day((c.started_at, c.model, c.cost_usd) for r in records for c in r.model_calls)


def durations(pairs: Iterable[tuple[Job, JobRecord | None]]) -> dict[str, list[float]]:
    """Every phase's durations: from a job's monitor record where it has one, and the job row's queue wait and
    run time for every job."""
    out: dict[str, list[float]] = defaultdict(list)
    for job, record in pairs:
        row = job_phase_seconds(job)
        recorded = {p.name for p in record.phases} if record is not None else set()
        for phase in record.phases if record is not None else ():
            out[phase.name].append(phase.seconds)
        for name, value in row.items():
            if name not in recorded:
                out[name].append(value)
    return out

"""`equitr report [--since 7d]`: what the jobs did, cost and took, from the job store. Pure over jobs."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from equitr.errors import CommandError
from equitr.jobs.model import Job
from equitr.text.money import usd

_SPAN = re.compile(r"^(\d+)([hdw])$")
_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> float:
    match = _SPAN.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"`--since {text}` is not a period.", hint="Use a number and h, d or w: 12h, 7d, 4w.")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def render(jobs: Sequence[Job], *, since_s: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    recent = [j for j in jobs if now - since_s <= j.created_at <= now]
    if not recent:
        return "no jobs in this period"
    lines = [f"{len(recent)} jobs since {time.strftime('%Y-%m-%d %H:%M', time.gmtime(now - since_s))} UTC", ""]
    kinds = sorted({j.kind for j in recent})
    states = ("queued", "running", "done", "failed", "cancelled")
    lines.append(f"{'kind':<8}" + "".join(f"{s:>10}" for s in states) + f"{'cost':>12}{'p50 s':>9}{'p99 s':>9}")
    for kind in kinds:
        mine = [j for j in recent if j.kind == kind]
        count: Counter[str] = Counter(str(j.state) for j in mine)
        durations = sorted(j.finished_at - j.started_at for j in mine if j.finished_at and j.started_at)
        p50 = statistics.median(durations) if durations else 0.0
        p99 = durations[max(0, round(len(durations) * 0.99) - 1)] if durations else 0.0
        lines.append(
            f"{kind:<8}"
            + "".join(f"{count.get(s, 0):>10}" for s in states)
            + f"{usd(sum(j.cost_usd for j in mine), places=4):>12}{p50:>9.1f}{p99:>9.1f}"
        )
    total = sum(j.cost_usd for j in recent)
    done = sum(1 for j in recent if j.state == "done")
    ended = sum(1 for j in recent if j.state in ("done", "failed", "cancelled"))
    lines += ["", f"total cost {usd(total, places=4)}; {done}/{ended} ended jobs succeeded"]
    reasons = Counter(j.reason for j in recent if j.state == "failed" and j.reason)
    if reasons:
        lines += ["", "most frequent failures:"] + [f"  {n:>3}× {r[:100]}" for r, n in reasons.most_common(5)]
    return "\n".join(lines)

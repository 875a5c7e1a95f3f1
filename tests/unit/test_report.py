import pytest

from equitr.errors import CommandError
from equitr.jobs.model import Job
from equitr.jobs.report import parse_since, render

NOW = 1_800_000_000.0


def job(i: int, kind: str, state: str, cost: float, took: float, reason: str = "", age: float = 60) -> Job:
    return Job(
        id=i,
        kind=kind,
        repo="o/r",
        number=1,
        requester="a",
        delivery_id=str(i),
        state=state,  # type: ignore[arg-type]
        cost_usd=cost,
        reason=reason,
        created_at=NOW - age,
        updated_at=NOW,
        started_at=NOW - age,
        finished_at=NOW - age + took,
    )


def test_parse_since() -> None:
    assert parse_since("7d") == 7 * 86400 and parse_since("12h") == 43200 and parse_since("2W") == 14 * 86400
    for bad in ("", "7", "0d", "3y", "-1d"):
        with pytest.raises(CommandError):
            parse_since(bad)


def test_render_groups_by_kind_with_costs_durations_and_failures() -> None:
    jobs = [
        job(1, "fix", "done", 0.25, 40),
        job(2, "fix", "failed", 0.5, 10, "budget used up"),
        job(3, "review", "done", 0.05, 5),
        job(4, "fix", "failed", 0.1, 3, "budget used up"),
        job(5, "fix", "done", 9.0, 1, age=30 * 86400),  # outside the period
    ]
    text = render(jobs, since_s=7 * 86400, now=NOW)
    assert text.startswith("4 jobs since")
    assert "total cost $0.9000; 2/4 ended jobs succeeded" in text
    fix_line = next(line for line in text.splitlines() if line.startswith("fix "))
    assert "$0.8500" in fix_line and "10.0" in fix_line  # median of 40, 10, 3
    assert "2× budget used up" in text
    assert render(jobs, since_s=3600, now=NOW - 10 * 86400) == "no jobs in this period"

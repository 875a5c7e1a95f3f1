"""How a job's ending reaches the issue: the status comment's last edit and the formatted error, together.

    ending → Report (rendered when the job ends) → the store keeps it with the end state → deliver → done
                                                                     ↑ GitHub unreachable: tried again by
                                                                       the sweeper, with backoff

Every ending is reported: done, failed (an equitr error, a bug, or a job given up after crashing its workers)
and cancelled. The report is data, so it outlives the process that made it; delivering it twice is harmless
because both comments are found by their markers and edited in place.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

from gidgethub.abc import GitHubAPI

from equitr.errors import BudgetExceeded, RuntimeFailure
from equitr.errors.render import ErrorContext, format_error
from equitr.events.commands import USAGE, Command
from equitr.events.decisions import Identity
from equitr.github import comments
from equitr.jobs.model import Job
from equitr.jobs.status import Status, status_body
from equitr.text.sanitize import public_text

log = logging.getLogger(__name__)

RETRY_FIRST_S = 30.0
RETRY_MAX_S = 3600.0
GIVE_UP_TRIES = 200  # at an hour apart once backed off: about eight days of GitHub not taking it


@dataclass(frozen=True, slots=True)
class Report:
    state: str
    reason: str
    status: str | None = None  # the status comment's final text, when the job has one
    status_comment_id: int | None = None
    error: str | None = None  # the formatted error comment
    lost: bool = False  # made by the store (the job was given up): render the texts when delivering
    # The attempt that ended showed no status, but an earlier one may have (then paused, or cut short by a
    # crash): when delivering, a status comment found by its marker is set to this ending.
    settle: bool = False

    @property
    def empty(self) -> bool:
        """Nothing to post."""
        return self.status is None and self.error is None and not self.lost and not self.settle

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Report:
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def error_context(job: Job, error: BaseException | None = None, *, docs_url: str | None = None) -> ErrorContext:
    """What the command asked for, from the job's own record (its flags, for the recovery commands)."""
    args = job.args
    command = Command(
        name=job.kind if job.kind in USAGE else "fix",
        text=str(args.get("text") or ""),
        budget_usd=args.get("budget_usd"),
        model=args.get("model"),
        worker_model=args.get("worker_model"),
    )
    spent = error.spent_usd if isinstance(error, BudgetExceeded) else None
    return ErrorContext.from_command(command, repo=job.repo, spent_usd=spent, docs_url=docs_url)


def lost_texts(job: Job, report: Report, *, docs_url: str | None) -> tuple[str, str]:
    """The status line and the error comment of a job the store gave up (it crashed its workers)."""
    error = RuntimeFailure(report.reason)
    status = status_body(Status(job.id, job.kind, job.requester, phase="failed", detail=public_text(report.reason)))
    return status, format_error(error, job_id=job.id, context=error_context(job, error, docs_url=docs_url))


async def deliver(
    gh: GitHubAPI, job: Job, report: Report, *, author: Identity, docs_url: str | None = None
) -> None:
    """Post the report: the status comment's last edit, then the error comment. Idempotent: both are found by
    the job's markers among the comments equitr (`author`) wrote."""
    status, error = report.status, report.error
    if report.lost:
        rendered_status, error = lost_texts(job, report, docs_url=docs_url)
        # Only a job that had a status comment gets one edited; none is created for a job given up.
        found = await comments.find_comment(gh, job.repo, job.number, "status", job.ref, author=author)
        status = rendered_status if found is not None else None
        report = Report(report.state, report.reason, status, int(found["id"]) if found else None, error)
    elif report.settle and status is None:
        found = await comments.find_comment(gh, job.repo, job.number, "status", job.ref, author=author)
        if found is not None:
            ended = Status(job.id, job.kind, job.requester, phase=report.state, detail=public_text(report.reason))
            status, report = status_body(ended), replace(report, status_comment_id=int(found["id"]))
    if status is not None:
        await comments.upsert(
            gh, job.repo, job.number, "status", job.ref, status, author=author, comment_id=report.status_comment_id
        )
    if error is not None:
        await comments.upsert(gh, job.repo, job.number, "error", job.ref, error, author=author)


def next_try_s(tries: int) -> float:
    """Seconds until the next attempt after `tries` failed ones: 30 s, 1 min, 2 min, … at most an hour."""
    return float(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, tries - 1)))

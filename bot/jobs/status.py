"""What a job's status comment says: its phase, plan and progress, links and cost. Pure.

The worker edits the comment as the job moves (`equitr.handlers.status`); the runner writes the last edit of a
job it gave up (`equitr.jobs.endings`), so the text lives below both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from equitr.agent.ledger import Ledger
from equitr.agent.report import cost_details
from equitr.text.sanitize import sanitize_inline

ICON = {"done": "✅", "failed": "❌", "cancelled": "⏹️", "stopped": "⏸️"}  # the endings
# Not an ending: the job is back in the queue (or waiting in place) and goes on by itself.
PAUSED = "paused"
RESTARTED = "equitr restarted; it resumes by itself"


def rate_limit_pause(until: float) -> str:
    """Why a job waits for GitHub's rate limit, and when it goes on (UTC, to the minute)."""
    return f"GitHub's rate limit; resumes at {time.strftime('%H:%M', time.gmtime(until))} UTC"


@dataclass(slots=True)
class Status:
    """Everything the status comment shows; the runner updates it as the job moves."""

    job_id: int
    kind: str
    requester: str
    phase: str = "queued"
    detail: str = ""
    plan: list[str] = field(default_factory=list)
    steps_done: int = 0
    links: list[tuple[str, str]] = field(default_factory=list)
    ledger: Ledger | None = None
    budget_usd: float | None = None


def status_body(status: Status) -> str:
    if status.phase == PAUSED:  # "⏸️ paused: <why>", the why in the heading
        lines = [f"### ⏸️ equitr `{status.kind}` — {PAUSED}: {sanitize_inline(status.detail)}", ""]
        detail = ""
    else:
        lines = [f"### {ICON.get(status.phase, '⏳')} equitr `{status.kind}` — {status.phase}", ""]
        detail = f" {sanitize_inline(status.detail)}" if status.detail else ""
    lines.append(f"Job {status.job_id}, asked by @{status.requester}.{detail}")
    if status.plan:
        lines += ["", "**Plan**", ""]
        lines += [
            f"- [{'x' if i < status.steps_done else ' '}] {sanitize_inline(step)}" for i, step in enumerate(status.plan)
        ]
    if status.links:
        lines += ["", " · ".join(f"[{text}]({url})" for text, url in status.links)]
    if status.ledger is not None and status.ledger.calls:
        lines += ["", *cost_details(status.ledger, budget_usd=status.budget_usd)]
    lines += ["", "<sub>`/equitr status` · `/equitr cancel` · `/equitr cost` · `/equitr help`</sub>"]
    return "\n".join(lines)

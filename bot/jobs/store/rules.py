"""The rules both job stores follow, in one place so the SQLite and Redis back ends cannot drift: how long
dedupe keys and records are kept, how often a job may be attempted, who owns a running job and whether that
owner still lives, what a job that keeps crashing its workers is told, and how a forged job is refused.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from equitr.jobs import seal
from equitr.jobs.model import Job

log = logging.getLogger(__name__)

DEDUPE_TTL_S = 45 * 24 * 3600  # GitHub redelivers for weeks at most; keep keys well past 30 days.
MAX_ATTEMPTS = 3
# A report written by `finish` is the runner's to deliver for this long; after that the sweeper may.
REPORT_HOLD_S = 60.0
# The monitor's job records (`equitr.monitor.records`) are kept this long, and go with their job when it is deleted.
RECORD_TTL_S = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PendingReport:
    """An ending not yet reported on GitHub: the report (JSON, see `equitr.jobs.endings`) and how often it failed."""

    job_id: int
    report: str
    tries: int = 0
    next_at: float = 0.0


# -- owners and liveness ---------------------------------------------------------------------------


def process_owner() -> str:
    """`host:pid:starttime` — pid alone is reused; the kernel start time makes it unique per boot."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_is_dead(owner: str) -> bool:
    """True only when we can tell for sure: same host and that process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return start != _start_time(pid)
    return _start_time(pid) != start or not start


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name in field 2 may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[-1].split()[19]


def is_stale(job: Job, now: float, *, queued_grace_s: float = 30.0) -> bool:
    """A job the queue may have lost: running with an expired lease or a dead owner, or long queued."""
    if job.state == "running":
        return job.lease_until < now or owner_is_dead(job.owner)
    return job.state == "queued" and job.updated_at < now - queued_grace_s


def gave_up(job: Job) -> bool:
    """Ended by the claim's give-up branch (its runners kept dying): no runner ended it."""
    return job.state == "failed" and job.reason == GAVE_UP


GAVE_UP = (
    f"gave up after {MAX_ATTEMPTS} attempts: the worker stopped unexpectedly each time. "
    "Check the worker's logs, then `/equitr retry`."
)
# The give-up branch's report: no bodies (the store writes no Markdown); `equitr.jobs.endings` renders them.
GAVE_UP_REPORT = json.dumps({"state": "failed", "reason": GAVE_UP, "lost": True})

# -- refusing forged jobs ------------------------------------------------------------------------------

REFUSED = (
    "refused: this job's record is not authenticated (forged, or stored by a process with other credentials), "
    "so it was not run. Post the command again."
)


def job_key(key: bytes | None) -> bytes:
    """The key that authenticates job records: the one given, else this process's own (`equitr.jobs.seal`)."""
    return key if key is not None else seal.derive(seal.process_key(), "job")


def log_refused(job_id: int, job: Job | None) -> None:
    what = f" (kind {job.kind!r}, repo {job.repo!r}, requester {job.requester!r})" if job is not None else ""
    log.critical(
        "job %s refused and not run: its record fails authentication%s. Someone other than equitr wrote to "
        "the job store, or processes sharing it run with different credentials.",
        job_id,
        what,
    )


# The queue's message for a stored job, as SQL for the store to run in the job's own transaction (given the job's
# id and the store's file), or None when the queue is elsewhere (`Queue.job_message_row`).
MessageFor = Callable[[int, Path], "tuple[str, tuple[object, ...]] | None"]

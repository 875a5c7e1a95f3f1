"""Job records: what a job is, its states, and how its row looks. Pure data, no storage."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from equitr.events.commands import EXCLUSIVE

State = Literal["queued", "running", "done", "failed", "cancelled"]
END_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})


def new_uid() -> str:
    """A job's identity on GitHub (the ID of its comment markers): unique across runs, machines and stores,
    and not guessable, unlike the store's sequential `id`, which restarts in every fresh store."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the webhook side knows when it decides there is work."""

    kind: str
    repo: str
    number: int
    requester: str
    delivery_id: str
    installation_id: int | None = None
    comment_id: int | None = None
    args: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=new_uid)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    repo: str
    number: int
    requester: str
    delivery_id: str
    state: State
    installation_id: int | None = None
    comment_id: int | None = None
    args: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    cost_usd: float = 0.0
    attempts: int = 0
    cancel_requested: bool = False
    owner: str = ""
    lease_until: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    mac: str = ""  # see equitr.jobs.seal: checked when a worker claims the job
    uid: str = ""

    @property
    def ref(self) -> str:
        """The ID of this job's comment markers (`<!-- equitr:status:REF -->`); the store id for jobs stored
        before jobs had a uid."""
        return self.uid or str(self.id)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("owner")
        data.pop("lease_until")
        data.pop("mac")
        return data

    def with_(self, **changes: Any) -> Job:
        return replace(self, **changes)


def needs_write_permission(job: Job) -> bool:
    """Whether the requester must hold write (or maintain, admin) on the repository when the job runs.

    Kinds that change the repository (`exclusive` in the command table) are asked again whatever the webhook
    side decided: a job may wait, and permissions change."""
    return job.kind in EXCLUSIVE or bool(job.args.get("authorise_in_worker"))


def new_row(job: NewJob, job_id: int, now: float | None = None, *, mac: str = "") -> Job:
    ts = time.time() if now is None else now
    return Job(
        id=job_id,
        kind=job.kind,
        repo=job.repo,
        number=job.number,
        requester=job.requester,
        delivery_id=job.delivery_id,
        state="queued",
        installation_id=job.installation_id,
        comment_id=job.comment_id,
        args=dict(job.args),
        created_at=ts,
        updated_at=ts,
        mac=mac,
        uid=job.uid,
    )


def encode_args(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


def decode_args(text: str | bytes | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}

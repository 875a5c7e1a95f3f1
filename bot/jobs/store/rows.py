"""Jobs and records as stored: a SQLite row or a Redis JSON document becomes a `Job` through one parser,
so the two back ends read the same fields the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from equitr.jobs.model import Job, decode_args, encode_args
from equitr.monitor.records import JobRecord

log = logging.getLogger(__name__)
Raw = TypeVar("Raw")


def job_from(fields: Mapping[str, Any]) -> Job:
    """A job from its stored fields (a row's columns by name, or a JSON document)."""
    return Job(
        id=int(fields["id"]),
        kind=fields["kind"],
        repo=fields["repo"],
        number=int(fields["number"]),
        requester=fields["requester"],
        delivery_id=fields["delivery_id"],
        state=fields["state"],
        installation_id=_int_or_none(fields.get("installation_id")),
        comment_id=_int_or_none(fields.get("comment_id")),
        args=decode_args(fields.get("args")),
        reason=fields.get("reason") or "",
        cost_usd=float(fields.get("cost_usd") or 0),
        attempts=int(fields.get("attempts") or 0),
        cancel_requested=bool(fields.get("cancel_requested")),
        owner=fields.get("owner") or "",
        lease_until=float(fields.get("lease_until") or 0),
        created_at=float(fields["created_at"]),
        updated_at=float(fields["updated_at"]),
        started_at=_float_or_none(fields.get("started_at")),
        finished_at=_float_or_none(fields.get("finished_at")),
        mac=str(fields.get("mac") or ""),
        uid=str(fields.get("uid") or ""),
    )


def job_doc(job: Job) -> dict[str, Any]:
    """A job as the JSON document the Redis store keeps."""
    doc = job.to_dict()
    doc["owner"] = job.owner
    doc["lease_until"] = job.lease_until
    doc["mac"] = job.mac
    # Lua's cjson turns an empty table into an object or array ambiguously; keep args as a string.
    doc["args"] = encode_args(job.args)
    return doc


def doc_to_job(raw: bytes | str) -> Job:
    """A job from the Redis store's JSON document."""
    return job_from(json.loads(raw))


def parsed(parse: Callable[[Raw], Job], raw: Raw) -> Job | None:
    """A stored record as a Job, or None when it is not even well-formed (then it is refused too)."""
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError):
        return None


def parsed_record(raw: str | bytes) -> JobRecord | None:
    """A stored record, or None (logged) when it cannot be read: one bad row never breaks a listing."""
    try:
        return JobRecord.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("a stored job record could not be read (%s); it is skipped", type(exc).__name__)
        return None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)

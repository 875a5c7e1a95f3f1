"""Comments equitr writes: each carries a hidden marker `<!-- equitr:KIND:ID -->` so it is found again and
edited in place instead of posted twice.

A job's markers carry its `Job.ref` (a random uid), never the store's sequential id: ids restart in every
fresh store (each Action run has one), so `answer:1` of one run would be found, and overwritten, by the next.
Markers are trusted only in comments equitr wrote itself (`Identity.wrote`): anyone can paste one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Literal

from gidgethub.abc import GitHubAPI

from equitr.errors import GitHubError
from equitr.events.decisions import Identity
from equitr.github.retry import AMBIGUOUS
from equitr.text.sanitize import publishable

Kind = Literal["status", "error", "review-summary", "answer", "notice"]
log = logging.getLogger(__name__)
WRITE_TRIES = 3
WRITE_PAUSE_S = 1.0  # before looking again: GitHub's list may lag its write by a moment

_MARKER = re.compile(r"<!-- equitr:([a-z-]+):([A-Za-z0-9._#@/-]+) -->")
# A job's record in the comment it wrote: the Action's history (`equitr.action.history`) lives in equitr's own
# comments, so an edit by a later job must carry the records over.
JOB_RECORD = re.compile(r"<!-- equitr-job (\{[^<>]*?\}) -->")


def record_uid(text: str) -> str | None:
    """The job uid of a record's JSON, or None when it is not one."""
    try:
        uid = json.loads(text).get("uid")
    except (ValueError, AttributeError):
        return None
    return uid if isinstance(uid, str) else None


def keep_job_records(old: str, new: str) -> str:
    """`new`, carrying over the job records of `old` that `new` does not have (a comment edited by a later job)."""
    have = {uid for m in JOB_RECORD.finditer(new) if (uid := record_uid(m.group(1))) is not None}
    extra = [m.group(0) for m in JOB_RECORD.finditer(old) if record_uid(m.group(1)) not in have]
    return "\n".join([new.rstrip(), *extra]) if extra else new


def marker(kind: Kind, ident: str | int) -> str:
    return f"<!-- equitr:{kind}:{ident} -->"


def find_marker(body: str) -> tuple[str, str] | None:
    match = _MARKER.search(body or "")
    return (match.group(1), match.group(2)) if match else None


def render(kind: Kind, ident: str | int, body: str) -> str:
    """The final text of a comment: redacted, no image off GitHub (`equitr.text.sanitize.publishable`; model text in
    `body` is sanitised where it was placed), with its marker first so it survives edits below it."""
    return f"{marker(kind, ident)}\n{publishable(body)}"


async def ours(gh: GitHubAPI, repo: str, number: int, *, author: Identity) -> list[dict[str, Any]]:
    """The comments on an issue or pull request that equitr wrote, oldest first."""
    return [
        dict(c)
        async for c in gh.getiter(f"/repos/{repo}/issues/{number}/comments?per_page=100")
        if author.wrote(c)
    ]


async def find_comment(
    gh: GitHubAPI, repo: str, number: int, kind: Kind, ident: str | int, *, author: Identity
) -> dict[str, Any] | None:
    wanted = marker(kind, ident)
    async for comment in gh.getiter(f"/repos/{repo}/issues/{number}/comments?per_page=100"):
        if wanted in (comment.get("body") or "") and author.wrote(comment):
            return dict(comment)
    return None


async def upsert(
    gh: GitHubAPI,
    repo: str,
    number: int,
    kind: Kind,
    ident: str | int,
    body: str,
    *,
    author: Identity,
    comment_id: int | None = None,
) -> dict[str, Any]:
    """Edit our comment for (kind, ident) if it exists, else create it. Returns the comment.

    Idempotent: when GitHub's answer to a write is lost (a 500/502/504, a dropped connection), the comment is
    looked up by its marker again before anything is posted, so a retry never makes a second one.

    Job records (`equitr.action.history`) that an earlier job left in the comment are kept: they are the Action's
    job history."""
    text = render(kind, ident, body)

    async def once() -> dict[str, Any]:
        target, final = comment_id, text
        if target is None:
            existing = await find_comment(gh, repo, number, kind, ident, author=author)
            if existing is not None:
                target = int(existing["id"])
                final = keep_job_records(str(existing.get("body") or ""), text)
        if target is not None:
            return dict(await gh.patch(f"/repos/{repo}/issues/comments/{target}", data={"body": final}))
        return dict(await gh.post(f"/repos/{repo}/issues/{number}/comments", data={"body": final}))

    for attempt in range(1, WRITE_TRIES + 1):
        try:
            return await once()
        except GitHubError as exc:
            if attempt == WRITE_TRIES or not (exc.status is None or exc.status in AMBIGUOUS):
                raise
            log.warning("writing the %s comment on %s#%s: %s; looking for it, then again", kind, repo, number, exc)
            await asyncio.sleep(WRITE_PAUSE_S * attempt)
    raise AssertionError("unreachable")

"""The Action's job history, kept on GitHub itself.

Each `equitr action` run starts with an empty job store, so on its own `/equitr status`, `cost` and `retry`
would see nothing from earlier runs. Instead of carrying a database from run to run (a cache is lost when it
is evicted, and two runs at once each save their own copy, so one loses the other's jobs), every job leaves
its **record** on GitHub, in the comment it wrote:

    <!-- equitr-job {"uid": "…", "id": 3, "kind": "plan", "state": "done", "cost_usd": 0.0012, …} -->

and the next run reads the records back into its store before it does anything: the issue's own comments
(all of its history), and the repository's comments of this month (the month's spend, which the budget
checks). GitHub keeps every comment, and each job writes only its own, so concurrent runs lose nothing.
Records are trusted only in comments equitr wrote itself, like markers.

Pure functions (`record`, `records`, `with_record`) and the two GitHub edges (`write`, `load`). A later job's
edit of the comment keeps the records (`equitr.github.comments.keep_job_records`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from gidgethub.abc import GitHubAPI

from equitr.events.decisions import Identity
from equitr.github import comments
from equitr.jobs.model import END_STATES, Job
from equitr.redact import redact

log = logging.getLogger(__name__)

_RECORD = comments.JOB_RECORD
# What `/equitr retry` needs to run a job again; the issue body is left out (retry reads the issue anew).
_ARGS = (
    "text",
    "budget_usd",
    "model",
    "worker_model",
    "is_pull_request",
    "title",
    "via",
    "head_sha",
    "auto",
    "action",
    "fork",
)
_TEXT_CAP = 2000


def record(job: Job) -> str:
    """A job as a hidden HTML comment. The JSON has no `<`, `>` or `--`, so it cannot end the comment."""
    args = {k: _clean(job.args[k]) for k in _ARGS if job.args.get(k) not in (None, "")}
    data = {
        "uid": job.uid,
        "id": job.id,
        "kind": job.kind,
        "repo": job.repo,
        "number": job.number,
        "requester": job.requester,
        "state": job.state,
        "reason": _clean(job.reason),
        "cost_usd": round(job.cost_usd, 6),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "comment_id": job.comment_id,
        "args": args,
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("--", "-\\u002d")
    return f"<!-- equitr-job {text} -->"


def _clean(value: Any) -> Any:
    return redact(value)[:_TEXT_CAP] if isinstance(value, str) else value


def records(body: str) -> list[Job]:
    """The job records in a comment body; anything malformed is skipped."""
    out = []
    for match in _RECORD.finditer(body or ""):
        try:
            job = _job(json.loads(match.group(1)))
        except (ValueError, TypeError, KeyError):
            continue
        if job is not None:
            out.append(job)
    return out


def _job(data: Any) -> Job | None:
    if not isinstance(data, dict) or data.get("state") not in END_STATES:
        return None
    uid = str(data["uid"])
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", uid):
        return None
    given = data.get("args")
    args: dict[str, Any] = given if isinstance(given, dict) else {}
    created = float(data["created_at"])
    finished = data.get("finished_at")
    return Job(
        id=int(data["id"]),
        kind=str(data["kind"]),
        repo=str(data["repo"]),
        number=int(data["number"]),
        requester=str(data.get("requester") or ""),
        delivery_id=f"history:{uid}",
        state=data["state"],
        comment_id=int(data["comment_id"]) if isinstance(data.get("comment_id"), int) else None,
        args={k: v for k, v in args.items() if k in _ARGS},
        reason=str(data.get("reason") or ""),
        cost_usd=max(float(data.get("cost_usd") or 0.0), 0.0),
        created_at=created,
        updated_at=float(finished) if finished is not None else created,
        finished_at=float(finished) if finished is not None else None,
        uid=uid,
    )


def with_record(body: str, job: Job) -> str:
    """`body` with the job's record in it (replacing an older record of the same job)."""
    kept = [m.group(0) for m in _RECORD.finditer(body) if comments.record_uid(m.group(1)) != job.uid]
    text = _RECORD.sub("", body).rstrip()
    return "\n".join([text, *kept, record(job)])


# -- GitHub ------------------------------------------------------------------------------------------------


async def write(gh: GitHubAPI, job: Job, *, author: Identity) -> bool:
    """Leave the ended job's record in the comment it wrote (its status, answer or error comment; a review's
    summary). False when the job wrote no comment (it had nothing to say, so there is nothing to remember)."""
    if job.state not in END_STATES:
        return False
    wanted = [comments.marker(kind, job.ref) for kind in ("status", "answer", "error")]
    if job.kind == "review":
        wanted.append(comments.marker("review-summary", job.number))
    found: dict[str, dict[str, Any]] = {}
    for comment in await comments.ours(gh, job.repo, job.number, author=author):
        body = str(comment.get("body") or "")
        for mark in wanted:
            if mark in body:
                found.setdefault(mark, comment)
    target = next((found[m] for m in wanted if m in found), None)
    if target is None:
        return False
    body = with_record(str(target.get("body") or ""), job)
    await gh.patch(f"/repos/{job.repo}/issues/comments/{int(target['id'])}", data={"body": body})
    return True


async def read_issue(gh: GitHubAPI, repo: str, number: int, *, author: Identity) -> list[Job]:
    """Every job record on one issue or pull request."""
    return [j for j in _from(await comments.ours(gh, repo, number, author=author), repo) if j.number == number]


async def read_repo(gh: GitHubAPI, repo: str, *, since: float, author: Identity) -> list[Job]:
    """The job records in the repository's comments changed since `since` (epoch seconds)."""
    stamp = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = [
        dict(c)
        async for c in gh.getiter(f"/repos/{repo}/issues/comments?since={stamp}&per_page=100")
        if author.wrote(c)
    ]
    return _from(found, repo)


def _from(found: Iterable[dict[str, Any]], repo: str) -> list[Job]:
    # A record counts only where it was written: the repository, and the issue the comment is on.
    out = []
    for comment in found:
        on = str(comment.get("issue_url") or "").rsplit("/", 1)[-1]
        for job in records(str(comment.get("body") or "")):
            if job.repo == repo and (not on.isdigit() or int(on) == job.number):
                out.append(job)
    return out

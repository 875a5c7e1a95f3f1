"""The request a job works on: the issue and its thread as they stood when equitr was asked, and where a
branch is on GitHub (the lease of a push)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from gidgethub.abc import GitHubAPI

from equitr.errors import GitHubError
from equitr.events.decisions import parse_time
from equitr.jobs.runner import JobContext

MAX_ISSUE_CHARS = 8_000  # an outsider's 65 000-character issue would otherwise cost money on every job
MAX_COMMENT_CHARS = 2_000
EDITED = "(edited after the command; not shown)"


def issue_task(issue: dict[str, Any], thread: list[dict[str, Any]], instructions: str) -> str:
    """The request the agent works on: the issue as it was when the command came, and the instructions."""
    body = str(issue.get("body") or "").strip()
    if len(body) > MAX_ISSUE_CHARS:
        body = body[:MAX_ISSUE_CHARS] + f"\n\n(The issue text is cut here, at {MAX_ISSUE_CHARS:,} characters.)"
    parts = [f"Issue #{issue.get('number')}: {issue.get('title', '')}", "", body]
    for c in thread:
        body = str(c.get("body") or "")
        if "<!-- equitr:" in body or body.lstrip().startswith("/equitr"):
            continue
        parts += ["", f"Comment by @{(c.get('user') or {}).get('login', '?')}:", body.strip()[:MAX_COMMENT_CHARS]]
    if instructions.strip():
        parts += ["", f"Instructions from the maintainer: {instructions.strip()}"]
    return "\n".join(parts).strip()


async def thread_at_trigger(gh: GitHubAPI, ctx: JobContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    issue = dict(await gh.getitem(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}"))
    for key, field_name in (("title", "title"), ("body", "issue_body")):
        if ctx.job.args.get(field_name):  # as delivered with the event, before any later edit
            issue[key] = ctx.job.args[field_name]
    listed = [dict(c) async for c in gh.getiter(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}/comments?per_page=100")]
    thread = thread_until(listed, before_id=ctx.job.comment_id, trigger_at=parse_time(ctx.job.args.get("trigger_at")))
    return issue, thread[-20:]


def thread_until(
    comments: list[dict[str, Any]], *, before_id: int | None, trigger_at: dt.datetime | None
) -> list[dict[str, Any]]:
    """The comments as they stood when equitr was asked (the command's comment, or the trigger label).

    What came after is not part of the request: comments numbered from the command's on, and comments made
    after the trigger time. A comment edited after it is shown as EDITED, since only its new text is left.
    """
    kept: list[dict[str, Any]] = []
    for c in comments:
        if before_id is not None and int(c["id"]) >= before_id:
            break
        if trigger_at is not None:
            created, updated = parse_time(c.get("created_at")), parse_time(c.get("updated_at"))
            if created is None or created > trigger_at:
                break  # listed in the order they were made
            if updated is None or updated > trigger_at:
                c = {**c, "body": EDITED}
        kept.append(c)
    return kept


async def remote_sha(gh: GitHubAPI, repo: str, branch: str) -> str:
    try:
        ref = await gh.getitem(f"/repos/{repo}/git/ref/heads/{urllib.parse.quote(branch)}")
    except GitHubError as exc:
        if exc.status == 404:
            return ""
        raise
    return str(ref["object"]["sha"])

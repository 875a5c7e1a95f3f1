"""`/equitr review` and automatic reviews: one review per head commit, inline comments only on diff lines."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from gidgethub.abc import GitHubAPI

from equitr.agent.ledger import Ledger
from equitr.agent.report import cost_details
from equitr.config.repo import RepoConfig
from equitr.errors import MonthlyBudgetExceeded
from equitr.events.decisions import Identity
from equitr.github import comments
from equitr.handlers import diffmap, reviewing
from equitr.handlers.prepare import (
    Prepared,
    WorkEnv,
    calls_for,
    is_fork_review,
    month_spent,
    prepare,
    read_config,
)
from equitr.jobs.model import Job
from equitr.jobs.runner import JobContext, Outcome
from equitr.monitor.records import timed
from equitr.text.sanitize import publishable, sanitize, sanitize_inline


async def review(ctx: JobContext, env: WorkEnv) -> Outcome:
    """Review the pull request's head commit (or, after an earlier review, the commits since): pick the files,
    ask the models, post one review with its inline comments and keep the summary comment up to date."""
    job = ctx.job
    gh = await ctx.github()
    pull = await gh.getitem(f"/repos/{job.repo}/pulls/{job.number}")
    head = str(pull["head"]["sha"])
    started = await _start(ctx, env, gh, pull, head=head)
    if isinstance(started, Outcome):
        return started
    p, reviewed = started
    files = [f async for f in gh.getiter(f"/repos/{job.repo}/pulls/{job.number}/files?per_page=100")]
    since = list(reviewed)[-1] if reviewed else None
    changed: dict[str, str | None] = {}
    if since is not None:
        compare = await gh.getitem(f"/repos/{job.repo}/compare/{since}...{head}")
        changed = {f["filename"]: f.get("patch") for f in compare.get("files") or []}
        files = [f for f in files if f["filename"] in changed]
    chosen, skipped = select_files(files, changed=changed, since=since, max_files=p.config.review.max_files)
    ledger = Ledger()
    with timed("review"):
        asked = await _ask(ctx, env, p, ledger, pull=pull, chosen=chosen, changed=changed, since=since)
    notes = []
    if since:
        notes.append(f"Incremental review of the commits after `{since[:10]}`.")
    if skipped or asked.clipped:  # file names come from the pull request's author
        notes.append(sanitize_inline("Not reviewed or clipped: " + ", ".join(skipped + asked.clipped) + "."))
    if asked.dropped:
        notes.append(f"{asked.dropped} proposed comment(s) were dropped: they pointed at lines outside the diff.")
    await _post(ctx, gh, head=head, reviewed=[*reviewed, head], asked=asked, notes=notes,
                cost=cost_details(ledger, budget_usd=p.effective.budget_usd))
    return Outcome("done", f"reviewed {head[:10]}: {len(asked.inline)} inline comments", ledger.total_usd)


async def _start(
    ctx: JobContext, env: WorkEnv, gh: GitHubAPI, pull: dict[str, Any], *, head: str
) -> tuple[Prepared, dict[str, str]] | Outcome:
    """The prepared job and the heads reviewed so far, or why no review happens: automatic reviews the
    configuration turns off, a head already reviewed, a spent monthly budget (automatic reviews only) or
    fork-review allowance."""
    job = ctx.job
    auto = bool(job.args.get("auto"))
    read = await read_config(ctx)
    if auto:
        # Decided here, after the configuration is read: drafts, bots and outsiders' forks are its choice.
        skip = await _auto_skip(ctx, env, pull, read[1])
        if skip:
            return Outcome("done", skip)
    reviewed = await _reviews(gh, job.repo, job.number, author=ctx.identity)
    if head in reviewed:
        if not auto:
            await _already_reviewed(gh, job, head, reviewed[head], author=ctx.identity)
        return Outcome("done", f"head {head[:10]} was already reviewed")
    try:
        p = await prepare(ctx, env, read)
    except MonthlyBudgetExceeded as exc:
        if not auto:
            raise
        return Outcome("done", f"automatic review skipped: {exc.message}")
    if auto and is_fork_review(job.args):
        left = p.config.review.forks_per_month_usd - await asyncio.to_thread(month_spent, ctx, fork_reviews=True)
        if left <= 0:
            return Outcome("done", "automatic review skipped: `review.forks_per_month_usd` is used up for this month")
        p.effective = dataclasses.replace(p.effective, budget_usd=min(p.effective.budget_usd, left))
    return p, reviewed


def select_files(
    files: list[dict[str, Any]], *, changed: dict[str, str | None], since: str | None, max_files: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The pull request's files to review, and the others with why (pure): a file needs a patch (and, in an
    incremental review, a change since the last reviewed head), is not removed, and fits `review.max_files`."""
    skipped: list[str] = []
    chosen: list[dict[str, Any]] = []
    for f in files:
        if not f.get("patch") or (since is not None and not changed.get(f["filename"])):
            skipped.append(f"`{f['filename']}` (binary or too large for a diff)")
        elif f.get("status") == "removed":
            skipped.append(f"`{f['filename']}` (removed)")
        elif len(chosen) >= max_files:
            skipped.append(f"`{f['filename']}` (over `review.max_files` = {max_files})")
        else:
            chosen.append(f)
    return chosen, skipped


@dataclasses.dataclass(slots=True)
class _Asked:
    """What the models said: the summary, the inline comments on diff lines, and what was left out."""

    summary: str
    inline: list[reviewing.InlineComment]
    dropped: int
    clipped: list[str]


async def _ask(
    ctx: JobContext,
    env: WorkEnv,
    p: Prepared,
    ledger: Ledger,
    *,
    pull: dict[str, Any],
    chosen: list[dict[str, Any]],
    changed: dict[str, str | None],
    since: str | None,
) -> _Asked:
    """The supervisor's summary of the whole diff, then a worker's comments file by file."""
    calls = calls_for(ctx.session, p, env, ledger)
    clipped: list[str] = []
    views = []
    for f in chosen:
        # An incremental review shows what changed since the last reviewed head, and comments only there.
        shown = changed[f["filename"]] if since is not None else f["patch"]
        view, cut = diffmap.numbered(shown, max_lines=p.config.review.max_patch_lines)
        if cut:
            clipped.append(f"`{f['filename']}` (clipped to {p.config.review.max_patch_lines} lines)")
        views.append((f, view))
    summary_reply = await calls.ask(
        "supervisor",
        reviewing.summary_messages(
            title=str(pull.get("title", "")),
            body=str(pull.get("body") or ""),
            files=[f["filename"] for f in chosen],
            diff="\n\n".join(v for _, v in views)[:12_000],
        ),
        purpose="review summary",
    )
    inline: list[reviewing.InlineComment] = []
    dropped = 0
    for f, view in views:
        reply = await calls.ask(
            "worker",
            reviewing.file_messages(path=f["filename"], numbered_patch=view, title=str(pull.get("title", ""))),
            purpose=f"review {f['filename']}",
        )
        valid = diffmap.since(f["patch"], changed[f["filename"]]) if since else diffmap.lines(f["patch"])
        kept, lost = reviewing.parse_comments(reply.content or reply.thinking, path=f["filename"], valid=valid)
        inline += kept
        dropped += lost
    summary = sanitize((summary_reply.content or summary_reply.thinking).strip()) or "(the model gave no summary)"
    return _Asked(summary, inline, dropped, clipped)


async def _post(
    ctx: JobContext,
    gh: GitHubAPI,
    *,
    head: str,
    reviewed: list[str],
    asked: _Asked,
    notes: list[str],
    cost: list[str],
) -> None:
    """The review on the head commit (its marker says which head), then the summary comment of every review."""
    job = ctx.job
    review_body = "\n".join(
        [f"<!-- equitr:review:{head} -->", "### equitr review", "", asked.summary, "", *notes, "", *cost]
    )
    await gh.post(
        f"/repos/{job.repo}/pulls/{job.number}/reviews",
        data={
            "commit_id": head,
            "event": "COMMENT",
            "body": publishable(review_body),
            "comments": [c.api() for c in asked.inline],
        },
    )
    summary_comment = "\n".join(
        [
            f"### equitr review summary for #{job.number}",
            "",
            asked.summary,
            "",
            "Reviewed commits: " + ", ".join(f"`{s[:10]}`" for s in reviewed),
            "",
            *notes,
        ]
    )
    await comments.upsert(
        gh, job.repo, job.number, "review-summary", job.number, summary_comment, author=ctx.identity
    )


async def _reviews(gh: GitHubAPI, repo: str, number: int, *, author: Identity) -> dict[str, str]:
    """The head commits equitr has reviewed, oldest first, each with its review's address: its own reviews'
    markers, never anyone else's."""
    found: dict[str, str] = {}
    async for r in gh.getiter(f"/repos/{repo}/pulls/{number}/reviews?per_page=100"):
        if not author.wrote(r):
            continue
        marker = comments.find_marker(str(r.get("body") or ""))
        if marker and marker[0] == "review":
            found[marker[1]] = str(r.get("html_url") or "")
    return found


async def _auto_skip(ctx: JobContext, env: WorkEnv, pull: dict[str, Any], config: RepoConfig) -> str:
    """Why this automatic review does not happen, or "" when it does."""
    cfg = config.review
    if not cfg.auto or ctx.job.args.get("action") not in cfg.on:
        return "automatic review is switched off for this event in .equitr.toml"
    author = pull.get("user") or {}
    if pull.get("draft") and cfg.skip_drafts:
        return "draft pull request: no automatic review (`review.skip_drafts`)"
    if author.get("type") == "Bot" and cfg.skip_bots:
        return "pull request opened by a bot: no automatic review (`review.skip_bots`)"
    head_repo = (pull.get("head") or {}).get("repo") or {}
    if head_repo.get("full_name") != ctx.job.repo and not cfg.auto_forks:
        login = str(author.get("login") or "")
        if not await env.permissions.allowed(await ctx.github(), ctx.job.repo, login):
            return (
                f"pull request from a fork by @{login}, who lacks write permission: no automatic review "
                "(`review.auto_forks`); a maintainer can comment `/equitr review`"
            )
    return ""


async def _already_reviewed(gh: GitHubAPI, job: Job, head: str, url: str, *, author: Identity) -> None:
    """`/equitr review` of a head that has its review: say where it is, rather than nothing."""
    where = f"[its review]({url})" if url else "its review above"
    body = (
        f"@{job.requester} equitr already reviewed the head commit `{head[:10]}` of this pull request: see "
        f"{where}. It reviews each commit once; push new commits and comment `/equitr review` again for a "
        "review of what changed."
    )
    await comments.upsert(gh, job.repo, job.number, "answer", job.ref, body, author=author)

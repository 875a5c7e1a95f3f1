"""`/equitr review` and automatic reviews: one review per head commit, inline comments only on diff lines."""

from __future__ import annotations

from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from bot import comments
from bot.agent.calls import Calls
from bot.agent.ledger import Guard, Ledger
from bot.agent.report import cost_markdown
from bot.runner import JobContext, Outcome
from bot.work import diffmap, reviewing
from bot.work.common import WorkEnv, prepare


async def review(ctx: JobContext, env: WorkEnv) -> Outcome:
    p = await prepare(ctx, env)
    job, gh = ctx.job, p.gh
    pull = await gh.getitem(f"/repos/{job.repo}/pulls/{job.number}")
    head = str(pull["head"]["sha"])
    auto = bool(job.args.get("auto"))
    if auto:
        cfg = p.config.review
        author_is_bot = (pull.get("user") or {}).get("type") == "Bot"
        if not cfg.auto or job.args.get("action") not in cfg.on:
            return Outcome("done", "automatic review is switched off for this event in .equitr.toml")
        if (pull.get("draft") and cfg.skip_drafts) or (author_is_bot and cfg.skip_bots):
            return Outcome("done", "draft or bot-authored pull request: no automatic review")
    reviewed = await _reviewed_shas(gh, job.repo, job.number)
    if head in reviewed:
        return Outcome("done", f"head {head[:10]} was already reviewed")
    files = [f async for f in gh.getiter(f"/repos/{job.repo}/pulls/{job.number}/files?per_page=100")]
    since = reviewed[-1] if reviewed else None
    if since is not None:
        compare = await gh.getitem(f"/repos/{job.repo}/compare/{since}...{head}")
        changed = {f["filename"] for f in compare.get("files") or []}
        files = [f for f in files if f["filename"] in changed]
    max_files = p.config.review.max_files
    skipped: list[str] = []
    chosen: list[dict[str, Any]] = []
    for f in files:
        if not f.get("patch"):
            skipped.append(f"`{f['filename']}` (binary or too large for a diff)")
        elif f.get("status") == "removed":
            skipped.append(f"`{f['filename']}` (removed)")
        elif len(chosen) >= max_files:
            skipped.append(f"`{f['filename']}` (over `review.max_files` = {max_files})")
        else:
            chosen.append(f)
    ledger = Ledger()
    async with aiohttp.ClientSession() as session:
        calls = Calls(
            env.model(session, p.effective),
            supervisor=p.supervisor,
            worker=p.worker,
            guard=Guard(p.effective.limits(), ledger),
            ledger=ledger,
        )
        clipped: list[str] = []
        views = []
        for f in chosen:
            view, cut = diffmap.numbered(f["patch"], max_lines=p.config.review.max_patch_lines)
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
            kept, lost = reviewing.parse_comments(
                reply.content or reply.thinking, path=f["filename"], valid=diffmap.lines(f["patch"])
            )
            inline += kept
            dropped += lost
    summary = (summary_reply.content or summary_reply.thinking).strip() or "(the model gave no summary)"
    notes = []
    if since:
        notes.append(f"Incremental review of the commits after `{since[:10]}`.")
    if skipped or clipped:
        notes.append("Not reviewed or clipped: " + ", ".join(skipped + clipped) + ".")
    if dropped:
        notes.append(f"{dropped} proposed comment(s) were dropped: they pointed at lines outside the diff.")
    review_body = "\n".join(
        [
            f"<!-- equitr:review:{head} -->",
            "### equitr review",
            "",
            summary,
            "",
            *notes,
            "",
            "<details><summary>Cost</summary>",
            "",
            cost_markdown(ledger, budget_usd=p.effective.budget_usd),
            "",
            "</details>",
        ]
    )
    await gh.post(
        f"/repos/{job.repo}/pulls/{job.number}/reviews",
        data={
            "commit_id": head,
            "event": "COMMENT",
            "body": review_body,
            "comments": [c.api() for c in inline],
        },
    )
    reviewed_list = [*reviewed, head]
    summary_comment = "\n".join(
        [
            f"### equitr review summary for #{job.number}",
            "",
            summary,
            "",
            "Reviewed commits: " + ", ".join(f"`{s[:10]}`" for s in reviewed_list),
            "",
            *notes,
        ]
    )
    await comments.upsert(gh, job.repo, job.number, "review-summary", job.number, summary_comment)
    return Outcome("done", f"reviewed {head[:10]}: {len(inline)} inline comments", ledger.total_usd)


async def _reviewed_shas(gh: GitHubAPI, repo: str, number: int) -> list[str]:
    shas = []
    async for r in gh.getiter(f"/repos/{repo}/pulls/{number}/reviews?per_page=100"):
        found = comments.find_marker(str(r.get("body") or ""))
        if found and found[0] == "review":
            shas.append(found[1])
    return shas

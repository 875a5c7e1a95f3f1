"""`/equitr fix`: plan, change and test in a sandboxed checkout; push `equitr/issue-N`; one draft PR."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gidgethub.abc import GitHubAPI

from equitr.agent.loop import AgentResult, Task
from equitr.errors import GitHubError, ValidationError
from equitr.github import comments
from equitr.github.retry import AMBIGUOUS
from equitr.handlers.prepare import Prepared, WorkEnv, agent_for, prepare, tool_context
from equitr.handlers.record import record_pr, record_result
from equitr.handlers.render import pr_body
from equitr.handlers.status import StatusComment
from equitr.handlers.task import issue_task, remote_sha, thread_at_trigger
from equitr.jobs.runner import JobContext, Outcome
from equitr.jobs.status import Status
from equitr.redact import redact
from equitr.sandbox.policy import fix_branch
from equitr.sandbox.workspace import Workspace
from equitr.text.sanitize import public_text, publishable

log = logging.getLogger(__name__)


async def fix(ctx: JobContext, env: WorkEnv) -> Outcome:
    p = await prepare(ctx, env)
    job = ctx.job
    status = Status(job.id, "fix", job.requester, phase="planning", budget_usd=p.effective.budget_usd)
    shown = StatusComment(p.gh, ctx, status)
    await shown.show(force=True)
    base_ref = str(p.repo["default_branch"])
    branch = fix_branch(job.number)
    if job.args.get("is_pull_request"):
        pull = await p.gh.getitem(f"/repos/{job.repo}/pulls/{job.number}")
        if (pull["head"].get("repo") or {}).get("full_name") != job.repo:
            raise ValidationError(
                "This pull request comes from a fork, and equitr only pushes to branches of this repository.",
                hint="Run `/equitr fix` on the issue instead, or push the branch to this repository.",
            )
        base_ref = str(pull["head"]["ref"])
        branch = fix_branch(job.number, pull_request=True)
    issue, thread = await thread_at_trigger(p.gh, ctx)
    task = issue_task(issue, thread, str(job.args.get("text") or ""))
    token = await env.access.git_token(ctx.session, job.installation_id, scope=ctx.scope)
    # The lease for the push: the branch must still be where it is now (or still not exist).
    lease = await remote_sha(p.gh, job.repo, branch)
    try:
        result, pushed = await _change_and_push(
            ctx, env, p, task=task, base_ref=base_ref, branch=branch, token=token, lease=lease, shown=shown
        )
    except asyncio.CancelledError:
        status.phase, status.detail = "cancelled", "Cancelled on request; nothing was pushed."
        raise
    # The runner posts the status's last edit (and the formatted error, when there is one).
    status.ledger = result.ledger
    record_result(result)
    if result.status != "accepted" or not pushed:
        status.phase = "stopped" if result.status == "stopped" else "failed"
        status.detail = public_text(f"{result.reason}" + (f" {result.hint}" if result.hint else ""))
        # Budget, limits, model failures come with a formatted error and the way out.
        return Outcome("failed", result.reason, result.ledger.total_usd, error=result.error)
    pr = await open_or_update_pr(ctx, p, result, branch=branch, base=base_ref, issue=issue)
    record_pr(str(pr["html_url"]))
    status.phase, status.detail = "done", f"Pull request: {pr['html_url']}"
    status.links = [(f"PR #{pr['number']}", str(pr["html_url"]))]
    return Outcome("done", f"PR #{pr['number']}", result.ledger.total_usd)


async def _change_and_push(
    ctx: JobContext,
    env: WorkEnv,
    p: Prepared,
    *,
    task: str,
    base_ref: str,
    branch: str,
    token: str,
    lease: str,
    shown: StatusComment,
) -> tuple[AgentResult, bool]:
    """The agent's work in a fresh checkout of `base_ref`, and its push to `branch` when it was accepted.
    All of it on the job's loop: a cancel (a plain cancel of the job's task) stops the model call or the
    command in the sandbox where it is, and nothing is pushed."""
    url = str(p.repo["clone_url"])
    async with Workspace(env.workdir).checkout(ctx.job.repo, url, ref=base_ref, token=token) as checkout:
        agent = agent_for(ctx.session, p, env, tool_context(checkout, env, p.effective), shown.on_event)
        result = await agent.run(Task(task, mode="fix"))
        if result.status != "accepted" or not result.changed:
            return result, False
        await checkout.create_branch_async(branch)
        title = task.splitlines()[0][:60]
        made = f"{title}\n\nMade by equitr (job {ctx.job.id}) for @{ctx.job.requester}."
        await checkout.commit_staged_async(made)
        checkout.pushed[branch] = lease
        await checkout.push_async(url, branch, token)
        return result, True


async def _open_pull(gh: GitHubAPI, repo: str, owner: str, branch: str) -> dict[str, Any] | None:
    found = [pr async for pr in gh.getiter(f"/repos/{repo}/pulls?state=open&head={owner}:{branch}")]
    return dict(found[0]) if found else None


async def _create_pull(gh: GitHubAPI, repo: str, owner: str, branch: str, data: dict[str, Any]) -> dict[str, Any]:
    """POST the pull request once; when GitHub's answer is lost (500/502/504, a dropped connection) or says it
    already exists (422), the pull request of `branch` is looked up instead of posted twice."""
    for attempt in range(1, comments.WRITE_TRIES + 1):
        try:
            return dict(await gh.post(f"/repos/{repo}/pulls", data=data))
        except GitHubError as exc:
            ambiguous = exc.status is None or exc.status in AMBIGUOUS
            if not ambiguous and exc.status != 422:
                raise
            log.warning("opening the pull request of %s: %s; looking for it", branch, exc)
            await asyncio.sleep(comments.WRITE_PAUSE_S * attempt)
            found = await _open_pull(gh, repo, owner, branch)
            if found is not None:
                return found
            if not ambiguous or attempt == comments.WRITE_TRIES:
                raise
    raise AssertionError("unreachable")


async def open_or_update_pr(
    ctx: JobContext, p: Prepared, result: AgentResult, *, branch: str, base: str, issue: dict[str, Any]
) -> dict[str, Any]:
    job, gh = ctx.job, p.gh
    owner = job.repo.split("/")[0]
    title = redact(f"Fix #{job.number}: {issue.get('title', '')}")[:250]
    body = pr_body(
        number=job.number,
        title=str(issue.get("title", "")),
        result=result,
        test_command=result.test_command,
        budget_usd=p.effective.budget_usd,
        requester=job.requester,
        job_id=job.id,
    )
    body = publishable(body)  # model text in it is sanitised where placed; this is the last pass
    existing = await _open_pull(gh, job.repo, owner, branch)
    if existing:
        pr = dict(await gh.patch(f"/repos/{job.repo}/pulls/{existing['number']}", data={"title": title, "body": body}))
    else:
        data = {"title": title, "head": branch, "base": base, "body": body, "draft": p.effective.draft_pr}
        pr = await _create_pull(gh, job.repo, owner, branch, data)
        if job.requester and not job.requester.endswith("[bot]"):
            try:
                await gh.post(
                    f"/repos/{job.repo}/pulls/{pr['number']}/requested_reviewers", data={"reviewers": [job.requester]}
                )
            except GitHubError as exc:  # e.g. the requester opened the issue and cannot review… their own PR
                log.info("review request for %s not made: %s", job.requester, exc)
    return pr

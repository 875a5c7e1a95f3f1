"""The GitHub job handlers: fix, review, ask, plan, retry (help, status, cancel and cost are in
`bot.control`). Each reads like the process it runs; every failure becomes one formatted error comment
(edited in place) and a status comment that says how the job ended."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from gidgethub.abc import GitHubAPI

from bot import comments
from bot.agent.ledger import Ledger
from bot.agent.loop import Agent, AgentResult, Event, Task
from bot.agent.report import cost_markdown
from bot.commands import USAGE, Command
from bot.errorfmt import ErrorContext, format_error
from bot.errors import BudgetExceeded, EquitrError, GitHubError, ValidationError
from bot.github.access import GitHubAccess
from bot.models.client import ChatModel, Endpoints, ModelClient
from bot.models.manager import ModelManager, choose_model
from bot.repoconfig import EffectiveSettings, RepoConfig, fetch_config, resolve_flags
from bot.runner import Handler, JobContext, Outcome
from bot.sandbox.context import ToolContext
from bot.sandbox.workspace import Checkout, Workspace
from bot.settings import Settings
from bot.work import diffmap, reviewing
from bot.work.render import Status, plan_body, pr_body, status_body

log = logging.getLogger(__name__)

T = TypeVar("T")
ModelFactory = Callable[[aiohttp.ClientSession, EffectiveSettings], ChatModel]
AUTHOR = "equitr <equitr@users.noreply.github.com>"
STATUS_EVERY_S = 2.0


@dataclass(slots=True)
class WorkEnv:
    """What every GitHub job handler needs, built once per worker process."""

    settings: Settings
    access: GitHubAccess
    model_factory: ModelFactory | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "equitr-work")

    def model(self, session: aiohttp.ClientSession, effective: EffectiveSettings) -> ChatModel:
        if self.model_factory is not None:
            return self.model_factory(session, effective)
        return ModelClient(session, Endpoints.from_settings(self.settings), fallback_model=effective.fallback_model)


@dataclass(slots=True)
class Prepared:
    gh: GitHubAPI
    repo: dict[str, Any]
    config: RepoConfig
    effective: EffectiveSettings
    supervisor: str
    worker: str


# -- shared steps ------------------------------------------------------------------------------------------


def month_spent(ctx: JobContext) -> float:
    start = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return sum(
        j.cost_usd
        for j in ctx.store.jobs(repo=ctx.job.repo, limit=10_000)
        if j.created_at >= start and j.id != ctx.job.id
    )


async def prepare(ctx: JobContext, env: WorkEnv) -> Prepared:
    gh = await ctx.github()
    repo = await gh.getitem(f"/repos/{ctx.job.repo}")
    config = await fetch_config(gh, ctx.job.repo, str(repo["default_branch"]))
    args = ctx.job.args
    spent = await asyncio.to_thread(month_spent, ctx)
    effective = resolve_flags(
        config,
        budget_usd=args.get("budget_usd"),
        model=args.get("model"),
        worker_model=args.get("worker_model"),
        month_spent_usd=spent,
    )
    supervisor, _ = choose_model(effective.supervisor_model or env.settings.supervisor_model)
    worker = effective.worker_model or env.settings.worker_model or supervisor
    manager = ModelManager()
    for name in {supervisor, worker}:
        manager.validate_model(name)
    return Prepared(gh, dict(repo), config, effective, supervisor, worker)


class StatusComment:
    """The job's one status comment, edited in place; throttled so a fast loop doesn't flood GitHub."""

    def __init__(self, gh: GitHubAPI, ctx: JobContext, status: Status) -> None:
        self.gh = gh
        self.ctx = ctx
        self.status = status
        self.comment_id: int | None = None
        self._last = 0.0
        self._last_phase = ""

    async def show(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.status.phase == self._last_phase and now - self._last < STATUS_EVERY_S:
            return
        self._last, self._last_phase = now, self.status.phase
        made = await comments.upsert(
            self.gh,
            self.ctx.job.repo,
            self.ctx.job.number,
            "status",
            self.ctx.job.id,
            status_body(self.status),
            comment_id=self.comment_id,
        )
        self.comment_id = int(made["id"])

    def on_event(self, event: Event) -> None:
        phase = {
            "planning": "planning",
            "plan": "working",
            "step": "working",
            "worker": "working",
            "testing": "testing",
            "review": "reviewing",
        }.get(event.kind)
        if phase:
            self.status.phase = phase
        if event.kind == "plan":
            self.status.plan = list(event.data.get("steps", []))
            self.status.steps_done = 0
        elif event.kind == "step":
            self.status.steps_done = int(event.data.get("step", 0))
        self.status.detail = event.message
        asyncio.get_running_loop().create_task(self._quietly())

    async def _quietly(self) -> None:
        try:
            await self.show()
        except (EquitrError, aiohttp.ClientError) as exc:  # progress is best effort; the final update is not
            log.warning("status update for job %s failed: %s", self.ctx.job.id, exc)


async def report_error(ctx: JobContext, error: BaseException, *, context: ErrorContext | None = None) -> None:
    gh = await ctx.github()
    body = format_error(error, job_id=ctx.job.id, context=context)
    await comments.upsert(gh, ctx.job.repo, ctx.job.number, "error", ctx.job.id, body)


def error_context(ctx: JobContext, kind: str, error: BaseException | None = None) -> ErrorContext:
    args = ctx.job.args
    command = Command(
        name=kind if kind in USAGE else "fix",  # type: ignore[arg-type]
        text=str(args.get("text") or ""),
        budget_usd=args.get("budget_usd"),
        model=args.get("model"),
        worker_model=args.get("worker_model"),
    )
    spent = error.spent_usd if isinstance(error, BudgetExceeded) else None
    return ErrorContext.from_command(command, repo=ctx.job.repo, spent_usd=spent)


def guarded(kind: str, body: Callable[[JobContext], Awaitable[Outcome]]) -> Handler:
    """Every EquitrError becomes a formatted error comment and a failed job, never a traceback."""

    async def handle(ctx: JobContext) -> Outcome:
        try:
            return await body(ctx)
        except EquitrError as exc:
            try:
                await report_error(ctx, exc, context=error_context(ctx, kind, exc))
            except (EquitrError, aiohttp.ClientError) as again:
                log.warning("could not post the error for job %s: %s", ctx.job.id, again)
            return Outcome("failed", exc.message)

    return handle


def issue_task(issue: dict[str, Any], thread: list[dict[str, Any]], instructions: str) -> str:
    """The request the agent works on: the issue as it was when the command came, and the instructions."""
    parts = [f"Issue #{issue.get('number')}: {issue.get('title', '')}", "", str(issue.get("body") or "").strip()]
    for c in thread:
        body = str(c.get("body") or "")
        if "<!-- equitr:" in body or body.lstrip().startswith("/equitr"):
            continue
        parts += ["", f"Comment by @{(c.get('user') or {}).get('login', '?')}:", body.strip()[:2000]]
    if instructions.strip():
        parts += ["", f"Instructions from the maintainer: {instructions.strip()}"]
    return "\n".join(parts).strip()


async def thread_at_trigger(gh: GitHubAPI, ctx: JobContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    issue = dict(await gh.getitem(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}"))
    for key, field_name in (("title", "title"), ("body", "issue_body")):
        if ctx.job.args.get(field_name):  # as delivered with the event, before any later edit
            issue[key] = ctx.job.args[field_name]
    thread: list[dict[str, Any]] = []
    cutoff = ctx.job.comment_id
    async for c in gh.getiter(f"/repos/{ctx.job.repo}/issues/{ctx.job.number}/comments?per_page=100"):
        # Comments are numbered in order: what came after the command is not part of the request.
        if cutoff is not None and int(c["id"]) >= cutoff:
            break
        thread.append(dict(c))
    return issue, thread[-20:]


def tool_context(checkout: Checkout, env: WorkEnv, effective: EffectiveSettings) -> ToolContext:
    from bot.agent.testcmd import detect

    return ToolContext(
        root=checkout.root,
        sandbox_mode=env.settings.sandbox,
        test_command=effective.test_command or detect(checkout.root),
    )


async def remote_sha(gh: GitHubAPI, repo: str, branch: str) -> str:
    try:
        ref = await gh.getitem(f"/repos/{repo}/git/ref/heads/{urllib.parse.quote(branch)}")
    except GitHubError as exc:
        if exc.status == 404:
            return ""
        raise
    return str(ref["object"]["sha"])


# -- fix ---------------------------------------------------------------------------------------------------


async def fix(ctx: JobContext, env: WorkEnv) -> Outcome:
    p = await prepare(ctx, env)
    job = ctx.job
    status = Status(job.id, "fix", job.requester, phase="planning", budget_usd=p.effective.budget_usd)
    shown = StatusComment(p.gh, ctx, status)
    await shown.show(force=True)
    base_ref = str(p.repo["default_branch"])
    branch = f"equitr/issue-{job.number}"
    if job.args.get("is_pull_request"):
        pull = await p.gh.getitem(f"/repos/{job.repo}/pulls/{job.number}")
        if (pull["head"].get("repo") or {}).get("full_name") != job.repo:
            raise ValidationError(
                "This pull request comes from a fork, and equitr only pushes to branches of this repository.",
                hint="Run `/equitr fix` on the issue instead, or push the branch to this repository.",
            )
        base_ref = str(pull["head"]["ref"])
        branch = f"equitr/pr-{job.number}"
    issue, thread = await thread_at_trigger(p.gh, ctx)
    task = issue_task(issue, thread, str(job.args.get("text") or ""))
    token = await env.access.git_token(ctx.session, job.installation_id)
    # The lease for the push: the branch must still be where it is now (or still not exist).
    lease = await remote_sha(p.gh, job.repo, branch)
    progress = _forward_to(asyncio.get_running_loop(), shown)
    stopper = Stopper()
    try:
        result, pushed = await asyncio.to_thread(
            _run_in_checkout,
            Workspace(env.workdir),
            p,
            env,
            ctx,
            task,
            base_ref,
            branch,
            token,
            lease,
            progress,
            stopper,
        )
    except asyncio.CancelledError:
        stopper.cancel()  # the agent runs in a thread of its own: stop it there too, before it can push
        status.phase, status.detail = "cancelled", "Cancelled on request; nothing was pushed."
        await asyncio.shield(shown.show(force=True))
        raise
    status.ledger = result.ledger
    if result.status != "accepted" or not pushed:
        status.phase = "stopped" if result.status == "stopped" else "failed"
        status.detail = f"{result.reason}" + (f" {result.hint}" if result.hint else "")
        await shown.show(force=True)
        if result.error is not None:  # budget, limits, model failures: a formatted error with the way out
            await report_error(ctx, result.error, context=error_context(ctx, "fix", result.error))
        return Outcome("failed", result.reason, result.ledger.total_usd)
    pr = await open_or_update_pr(ctx, p, result, branch=branch, base=base_ref, issue=issue)
    status.phase, status.detail = "done", f"Pull request: {pr['html_url']}"
    status.links = [(f"PR #{pr['number']}", str(pr["html_url"]))]
    await shown.show(force=True)
    return Outcome("done", f"PR #{pr['number']}", result.ledger.total_usd)


def _run_in_checkout(
    workspace: Workspace,
    p: Prepared,
    env: WorkEnv,
    ctx: JobContext,
    task: str,
    base_ref: str,
    branch: str,
    token: str,
    lease: str,
    progress: Callable[[Event], None],
    stopper: Stopper,
) -> tuple[AgentResult, bool]:
    """Runs in a thread (git and the sandbox block); the agent runs in an event loop of its own here."""
    url = str(p.repo["clone_url"])
    with workspace.checkout(ctx.job.repo, url, ref=base_ref, token=token) as checkout:
        tools = tool_context(checkout, env, p.effective)
        result = stopper.run(_agent(p, env, tools, Task(task, mode="fix"), progress))
        if result.status != "accepted" or not result.changed or stopper.cancelled:
            return result, False
        checkout.create_branch(branch)
        title = task.splitlines()[0][:60]
        checkout.commit_all(f"{title}\n\nMade by equitr (job {ctx.job.id}) for @{ctx.job.requester}.", AUTHOR)
        checkout.pushed[branch] = lease
        checkout.push(url, branch, token)
        return result, True


async def _agent(
    p: Prepared, env: WorkEnv, tools: ToolContext, task: Task, progress: Callable[[Event], None] | None
) -> AgentResult:
    async with aiohttp.ClientSession() as session:
        agent = Agent(
            model=env.model(session, p.effective),
            supervisor=p.supervisor,
            worker=p.worker,
            tools=tools,
            limits=p.effective.limits(),
            on_event=progress,
        )
        return await agent.run(task)


class Stopper:
    """Cancellation across threads: the job's loop cancels the agent's task in the agent's own loop."""

    def __init__(self) -> None:
        self.cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def run(self, coro: Awaitable[T]) -> T:
        async def main() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            if self.cancelled:
                raise asyncio.CancelledError
            return await coro

        return asyncio.run(main())

    def cancel(self) -> None:
        self.cancelled = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


def _forward_to(loop: asyncio.AbstractEventLoop, shown: StatusComment) -> Callable[[Event], None]:
    """Progress events come from the agent's loop (in a thread); the comment belongs to the job's loop."""

    def forward(event: Event) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(shown.on_event, event)

    return forward


async def open_or_update_pr(
    ctx: JobContext, p: Prepared, result: AgentResult, *, branch: str, base: str, issue: dict[str, Any]
) -> dict[str, Any]:
    job, gh = ctx.job, p.gh
    owner = job.repo.split("/")[0]
    title = f"Fix #{job.number}: {issue.get('title', '')}"[:250]
    body = pr_body(
        number=job.number,
        title=str(issue.get("title", "")),
        result=result,
        test_command=result.test_command,
        budget_usd=p.effective.budget_usd,
        requester=job.requester,
        job_id=job.id,
    )
    existing = [pr async for pr in gh.getiter(f"/repos/{job.repo}/pulls?state=open&head={owner}:{branch}")]
    if existing:
        pr = dict(
            await gh.patch(f"/repos/{job.repo}/pulls/{existing[0]['number']}", data={"title": title, "body": body})
        )
    else:
        pr = dict(
            await gh.post(
                f"/repos/{job.repo}/pulls",
                data={
                    "title": title,
                    "head": branch,
                    "base": base,
                    "body": body,
                    "draft": p.effective.draft_pr,
                },
            )
        )
        if job.requester and not job.requester.endswith("[bot]"):
            try:
                await gh.post(
                    f"/repos/{job.repo}/pulls/{pr['number']}/requested_reviewers", data={"reviewers": [job.requester]}
                )
            except GitHubError as exc:  # e.g. the requester opened the issue and cannot review… their own PR
                log.info("review request for %s not made: %s", job.requester, exc)
    return pr


# -- review ------------------------------------------------------------------------------------------------


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
        model = env.model(session, p.effective)
        agent = Agent(
            model=model,
            supervisor=p.supervisor,
            worker=p.worker,
            tools=ToolContext(root=Path(tempfile.gettempdir())),
            limits=p.effective.limits(),
        )
        agent.ledger = ledger
        agent.guard.ledger = ledger
        clipped: list[str] = []
        views = []
        for f in chosen:
            view, cut = diffmap.numbered(f["patch"], max_lines=p.config.review.max_patch_lines)
            if cut:
                clipped.append(f"`{f['filename']}` (clipped to {p.config.review.max_patch_lines} lines)")
            views.append((f, view))
        summary_reply = await agent._ask(
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
            reply = await agent._ask(
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


# -- ask and plan ------------------------------------------------------------------------------------------


async def _read_only(ctx: JobContext, env: WorkEnv, mode: str) -> tuple[Prepared, Agent, str, AgentResult]:
    p = await prepare(ctx, env)
    issue, thread = await thread_at_trigger(p.gh, ctx)
    question = str(ctx.job.args.get("text") or "")
    task = question if mode == "ask" else issue_task(issue, thread, question)
    token = await env.access.git_token(ctx.session, ctx.job.installation_id)
    workspace = Workspace(env.workdir)

    def work() -> tuple[Agent, str, AgentResult]:
        with workspace.checkout(ctx.job.repo, str(p.repo["clone_url"]), token=token) as checkout:
            tools = tool_context(checkout, env, p.effective)

            async def go() -> tuple[Agent, str, AgentResult]:
                async with aiohttp.ClientSession() as session:
                    agent = Agent(
                        model=env.model(session, p.effective),
                        supervisor=p.supervisor,
                        worker=p.worker,
                        tools=tools,
                        limits=p.effective.limits(),
                    )
                    if mode == "ask":
                        answer, result = await agent.answer(task)
                        return agent, answer, result
                    return agent, "", await agent.run(Task(task, mode="plan"))

            return stopper.run(go())

    stopper = Stopper()
    try:
        agent, answer, result = await asyncio.to_thread(work)
    except asyncio.CancelledError:
        stopper.cancel()
        raise
    return p, agent, answer, result


async def ask(ctx: JobContext, env: WorkEnv) -> Outcome:
    p, _, answer, result = await _read_only(ctx, env, "ask")
    if not answer:
        raise result.error or ValidationError(f"No answer: {result.reason}", hint=result.hint or None)
    body = "\n".join(
        [
            f"> {str(ctx.job.args.get('text') or '')[:500]}",
            "",
            answer,
            "",
            "<details><summary>Cost</summary>",
            "",
            cost_markdown(result.ledger, budget_usd=p.effective.budget_usd),
            "",
            "</details>",
        ]
    )
    await comments.upsert(p.gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.id, body)
    return Outcome("done", "answered", result.ledger.total_usd)


async def plan(ctx: JobContext, env: WorkEnv) -> Outcome:
    p, _, _, result = await _read_only(ctx, env, "plan")
    if result.status == "failed":
        raise result.error or ValidationError(f"No plan: {result.reason}", hint=result.hint or None)
    # A rough estimate: each step costs about one worker call and the run one supervisor review per round.
    manager = ModelManager()
    steps = len(result.plan)
    estimate = manager.estimate_cost(p.worker, 2500 * steps, 400 * steps) + manager.estimate_cost(
        p.supervisor, 4000 * 2, 300 * 2
    )
    fallback = result.ledger.fallbacks > 0
    body = plan_body(
        steps=result.plan,
        estimate_usd=estimate,
        model=f"{p.supervisor} + {p.worker}",
        fallback=fallback,
        ledger=result.ledger,
    )
    await comments.upsert(p.gh, ctx.job.repo, ctx.job.number, "answer", ctx.job.id, body)
    return Outcome("done", f"plan with {steps} steps", result.ledger.total_usd)


# -- retry -------------------------------------------------------------------------------------------------


async def retry(ctx: JobContext, env: WorkEnv, table: dict[str, Handler]) -> Outcome:
    previous = [
        j
        for j in await asyncio.to_thread(ctx.store.jobs, repo=ctx.job.repo, number=ctx.job.number, limit=50)
        if j.id != ctx.job.id and j.state == "failed" and j.kind in ("fix", "review", "ask", "plan")
    ]
    if not previous:
        raise ValidationError(
            "There is no failed equitr job here to retry.",
            hint="Start a new one with `/equitr fix` (or `review`, `ask`, `plan`).",
        )
    last = previous[0]
    args = {**last.args, **{k: v for k, v in ctx.job.args.items() if v not in (None, "") and k != "text"}}
    ctx.job = ctx.job.with_(kind=last.kind, args=args, comment_id=last.comment_id or ctx.job.comment_id)
    return await table[last.kind](ctx)


def handlers(env: WorkEnv) -> dict[str, Handler]:
    from bot.control import HANDLERS as control

    table: dict[str, Handler] = dict(control)
    for name, body in (("fix", fix), ("review", review), ("ask", ask), ("plan", plan)):
        table[name] = guarded(name, _bind(body, env))
    table["retry"] = guarded("retry", lambda ctx: retry(ctx, env, table))
    return table


def _bind(
    body: Callable[[JobContext, WorkEnv], Awaitable[Outcome]], env: WorkEnv
) -> Callable[[JobContext], Awaitable[Outcome]]:
    async def call(ctx: JobContext) -> Outcome:
        return await body(ctx, env)

    return call

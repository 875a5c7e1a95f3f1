"""The scheduler of `schedule` and `workflow_dispatch` runs: which issues get a fix job, and with what budget.

Open issues with the trigger label and no equitr pull request, oldest first, then (on a `schedule` run) the
tasks of `.equitr.toml`, within max-issues and one budget for the whole run; or, on a manual run with a
task, that one task on the issue it names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.parse
from typing import TYPE_CHECKING, Any

from gidgethub import GitHubException

from equitr.action.env import DEFAULT_LABEL, Options, RunnerEnv
from equitr.action.run import Run, load_history, run_job
from equitr.action.summary import Report, Skipped
from equitr.config.fetch import fetch_config
from equitr.config.repo import RepoConfig
from equitr.errors import ConfigError, EquitrError
from equitr.jobs.model import Job, NewJob
from equitr.sandbox.policy import fix_branch

if TYPE_CHECKING:
    from gidgethub.abc import GitHubAPI

    from equitr.web.services import Services

TASK_TITLE = "equitr task: {name}"


async def task(env: RunnerEnv, options: Options, run: Run, report: Report) -> None:
    """A manual task: `/equitr fix <task>` on the issue named for it."""
    assert options.issue is not None
    issue = await run.gh.getitem(f"/repos/{env.repository}/issues/{options.issue}")
    if issue.get("pull_request"):
        raise ConfigError(f"#{options.issue} is a pull request; a task needs an issue.")
    await load_history(env, run, report, options.issue)
    job = await asyncio.to_thread(_create_fix, env, run.services, issue, options.task, options.budget_usd)
    if job is None:
        report.skipped.append(Skipped(options.issue, str(issue.get("title", "")), "already started in this run"))
        return
    await run_job(run, job.id, report)


async def backlog(env: RunnerEnv, options: Options, run: Run, report: Report) -> None:
    """Open issues with the trigger label and no equitr PR yet, oldest first, then (on a `schedule` run) the
    tasks of `.equitr.toml` — within max-issues and one budget for the whole run. The stricter of the
    Action's inputs and the repository's `[schedule]` settings applies."""
    services, gh = run.services, run.gh
    config = await _config(gh, env.repository)
    schedule = config.schedule
    options = dataclasses.replace(
        options,
        label=options.label or config.trigger.label,
        max_issues=min(options.max_issues, schedule.max_issues_per_run),
        budget_usd=min(options.budget_usd, schedule.budget_usd),
    )
    report.options = options
    tasks = [t for t in schedule.tasks if not t.cron or t.cron == env.payload.get("schedule")]
    if env.event_name != "schedule":
        tasks = []
    chosen = await _choose_issues(env, options, services, gh, report)
    if not chosen and not tasks and not report.skipped:
        report.notes.append(f"No open issue carries the label `{options.label}`.")
    work: list[tuple[dict[str, Any], str]] = [(issue, "") for issue in chosen]
    for scheduled in tasks:
        work.append((await _task_issue(gh, env.repository, scheduled.name, scheduled.prompt), scheduled.prompt))
    if work:
        await load_history(env, run, report, None)
    spent = 0.0
    for index, (issue, text) in enumerate(work):
        remaining = options.budget_usd - spent
        if remaining <= 0:
            report.skipped.append(Skipped(issue["number"], issue["title"], "the run's budget is spent"))
            continue
        # An even share of what is left, so one job cannot starve the rest; unspent money carries forward.
        share = round(remaining / (len(work) - index), 6)
        job = await asyncio.to_thread(_create_fix, env, services, issue, text, share)
        if job is None:
            report.skipped.append(Skipped(issue["number"], issue["title"], "already started in this run"))
            continue
        finished = await run_job(run, job.id, report)
        spent += finished.cost_usd if finished is not None else 0.0


async def _config(gh: GitHubAPI, repo: str) -> RepoConfig:
    data = await gh.getitem(f"/repos/{repo}")
    return await fetch_config(gh, repo, str(data["default_branch"]))


async def _task_issue(gh: GitHubAPI, repo: str, name: str, prompt: str) -> dict[str, Any]:
    """The open issue that tracks a scheduled task (its status comments and pull request live there),
    opened the first time the task runs."""
    title = TASK_TITLE.format(name=name)
    async for issue in gh.getiter(f"/repos/{repo}/issues?state=open&sort=created&direction=asc&per_page=100"):
        if issue.get("title") == title and not issue.get("pull_request"):
            return {"number": int(issue["number"]), "title": title}
    body = f"A scheduled task from `.equitr.toml`. equitr works on it on scheduled runs.\n\n> {prompt[:3000]}"
    made = await gh.post(f"/repos/{repo}/issues", data={"title": title, "body": body})
    return {"number": int(made["number"]), "title": title}


async def _choose_issues(
    env: RunnerEnv, options: Options, services: Services, gh: GitHubAPI, report: Report
) -> list[dict[str, Any]]:
    trigger = options.label or DEFAULT_LABEL
    label = urllib.parse.quote(trigger, safe="")
    url = f"/repos/{env.repository}/issues?state=open&labels={label}&sort=created&direction=asc&per_page=100"
    chosen: list[dict[str, Any]] = []
    async for issue in gh.getiter(url):
        if issue.get("pull_request"):  # the issues API lists pull requests too
            continue
        number, title = int(issue["number"]), str(issue.get("title", ""))
        if len(chosen) >= options.max_issues:
            report.skipped.append(Skipped(number, title, f"over max-issues ({options.max_issues})"))
            continue
        pull = await _open_equitr_pull(gh, env.repository, number)
        if pull is not None:
            report.skipped.append(Skipped(number, title, f"equitr pull request #{pull} is open"))
            continue
        if await asyncio.to_thread(_active_job, services, env.repository, number):
            report.skipped.append(Skipped(number, title, "an equitr job is already queued or running"))
            continue
        labeled = await _who_labeled(gh, env.repository, number, trigger)
        refused = await _labeler_refused(gh, services, env.repository, trigger, labeled)
        if refused:
            report.skipped.append(Skipped(number, title, refused))
            continue
        assert labeled is not None
        chosen.append({"number": number, "title": title, "labeled_by": labeled[0], "trigger_at": labeled[1]})
    return chosen


async def _who_labeled(gh: GitHubAPI, repo: str, number: int, label: str) -> tuple[str, str] | None:
    """(login, time) of the latest `labeled` event for `label` on the issue's timeline."""
    latest: tuple[str, str] | None = None
    async for event in gh.getiter(f"/repos/{repo}/issues/{number}/events?per_page=100"):
        name = str((event.get("label") or {}).get("name", ""))
        if event.get("event") == "labeled" and name.casefold() == label.casefold():
            latest = (str((event.get("actor") or {}).get("login", "")), str(event.get("created_at", "")))
    return latest


async def _labeler_refused(
    gh: GitHubAPI, services: Services, repo: str, label: str, labeled: tuple[str, str] | None
) -> str:
    """Why the issue must not be worked on, or "": the label is a request for work like `/equitr fix`, so
    whoever added it needs write permission (issue forms add labels for any author, triage can add them)."""
    if labeled is None or not labeled[0]:
        return f"no `labeled` event for `{label}` on its timeline says who added the label"
    try:
        allowed = await services.permissions.allowed(gh, repo, labeled[0])
    except (EquitrError, GitHubException) as exc:
        return f"could not check the permission of @{labeled[0]}, who added the label ({exc})"
    if not allowed:
        return f"the label `{label}` was added by @{labeled[0]}, who lacks write permission"
    return ""


async def _open_equitr_pull(gh: GitHubAPI, repo: str, number: int) -> int | None:
    owner = repo.split("/", 1)[0]
    # An open pull request from the branch a fix job pushes means "already in hand".
    head = urllib.parse.quote(f"{owner}:{fix_branch(number)}", safe=":")
    async for pull in gh.getiter(f"/repos/{repo}/pulls?state=open&head={head}&per_page=10"):
        return int(pull["number"])
    return None


def _active_job(services: Services, repo: str, number: int) -> bool:
    return any(j.state in ("queued", "running") for j in services.store.jobs(repo=repo, number=number, limit=None))


def _create_fix(env: RunnerEnv, services: Services, issue: dict[str, Any], text: str, budget: float) -> Job | None:
    number = int(issue["number"])
    new = NewJob(
        kind="fix",
        repo=env.repository,
        number=number,
        requester=env.actor,
        delivery_id=env.delivery_id,
        args={
            "text": text,
            "title": str(issue.get("title", "")),
            "via": env.event_name,
            "labeled_by": issue.get("labeled_by"),
            # The thread as it was when the label was added (a task: when this run started).
            "trigger_at": issue.get("trigger_at") or _now_iso(),
            "budget_usd": budget,
            "model": None,
            "worker_model": None,
            "is_pull_request": False,
        },
    )
    return services.store.create(new, (f"{env.delivery_id}:{env.repository}#{number}",))


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

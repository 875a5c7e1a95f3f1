"""`equitr action`: the entry point of the GitHub Action (`actions/action.yml`).

GitHub's runner hands us the event as a file (`GITHUB_EVENT_PATH`) and a token (`GITHUB_TOKEN`); there is
no webhook signature to check, because the event comes from GitHub itself. Then:

    issue_comment / issues / pull_request → the webhook server's Dispatcher → jobs → run here, in-process
    schedule / workflow_dispatch          → open issues with the trigger label and no equitr PR → fix jobs

Everything runs in this process with an SQLite store in a temporary directory (or `EQUITR_DB`), so GitHub's
runners are the scale-out. Earlier runs' jobs are read into it from their records on GitHub before a run
with work, and each job's record is written when it ends (`equitr.history`). A Markdown summary goes to
`$GITHUB_STEP_SUMMARY`. Exit codes: 0 when the run went through (failed jobs have their own error comments on
GitHub), 1 on a configuration error, or when a job failed and `--fail-on-error` was given.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import secrets
import sys
import tempfile
import time
import traceback
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from gidgethub import GitHubException

from equitr import redact
from equitr.commands import MAX_BUDGET_USD, budget_in_range, usd_amount
from equitr.config.fetch import fetch_config
from equitr.config.repo import RepoConfig
from equitr.errors import ConfigError, EquitrError, GitHubError
from equitr.jobs import Job, NewJob
from equitr.store.sqlite import SqliteStore
from equitr.triggers import Identity

if TYPE_CHECKING:
    from gidgethub.abc import GitHubAPI

    from equitr.config.settings import Settings
    from equitr.runner import Runner
    from equitr.services import Services

log = logging.getLogger("equitr.action")

DISPATCHED_EVENTS = frozenset({"issue_comment", "issues", "pull_request"})
BACKLOG_EVENTS = frozenset({"schedule", "workflow_dispatch"})
DEFAULT_LABEL = "equitr"
DEFAULT_MAX_ISSUES = 3
DEFAULT_BUDGET_USD = 3.0
GITHUB_HINT = (
    "Pass `github-token` (default `${{ github.token }}`) and grant the job `contents: write`, `issues: write` "
    "and `pull-requests: write` in the workflow's `permissions:` (docs/action.md)."
)
BRANCH = "equitr/issue-{number}"  # the branch a fix job pushes; an open PR from it means "already in hand"


# -- inputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunnerEnv:
    """What GitHub's runner tells us about this run."""

    event_name: str
    payload: dict[str, Any]
    repository: str
    run_id: str = ""
    run_attempt: str = "1"
    actor: str = ""
    server_url: str = "https://github.com"
    summary_path: Path | None = None
    output_path: Path | None = None

    @property
    def delivery_id(self) -> str:
        """Stands in for `X-GitHub-Delivery`: one per run attempt, so a re-run is new work, a retry is not."""
        return f"action-{self.run_id or os.getpid()}-{self.run_attempt}"


@dataclass(frozen=True, slots=True)
class Options:
    label: str | None = None  # None: the repository's `[trigger] label`, else DEFAULT_LABEL
    max_issues: int = DEFAULT_MAX_ISSUES
    budget_usd: float = DEFAULT_BUDGET_USD
    task: str = ""
    issue: int | None = None
    fail_on_error: bool = False


def read_runner_env(environ: Mapping[str, str]) -> RunnerEnv:
    """Validate the runner's variables; every problem is a one-line ConfigError with a hint."""
    name = environ.get("GITHUB_EVENT_NAME", "").strip()
    if not name:
        raise ConfigError(
            "GITHUB_EVENT_NAME is not set.",
            hint="`equitr action` runs inside a GitHub Actions workflow; to try it elsewhere set GITHUB_EVENT_NAME "
            "and GITHUB_EVENT_PATH to an event name and a payload file (see docs/action.md).",
        )
    payload = _read_event(environ.get("GITHUB_EVENT_PATH", "").strip())
    repository = environ.get("GITHUB_REPOSITORY", "").strip() or _payload_repo(payload)
    if not repository or repository.count("/") != 1:
        raise ConfigError(
            f"GITHUB_REPOSITORY is {'not set' if not repository else repr(repository)}, and the event names no "
            "repository.",
            hint="Set GITHUB_REPOSITORY to OWNER/NAME (GitHub's runner sets it for you).",
        )
    return RunnerEnv(
        event_name=name,
        payload=payload,
        repository=repository,
        run_id=environ.get("GITHUB_RUN_ID", "").strip(),
        run_attempt=environ.get("GITHUB_RUN_ATTEMPT", "").strip() or "1",
        actor=environ.get("GITHUB_TRIGGERING_ACTOR", "").strip() or environ.get("GITHUB_ACTOR", "").strip(),
        server_url=(environ.get("GITHUB_SERVER_URL", "").strip() or "https://github.com").rstrip("/"),
        summary_path=_optional_path(environ.get("GITHUB_STEP_SUMMARY")),
        output_path=_optional_path(environ.get("GITHUB_OUTPUT")),
    )


def _read_event(path_text: str) -> dict[str, Any]:
    hint = "GitHub's runner sets GITHUB_EVENT_PATH to the event's JSON file; outside a runner, point it at one."
    if not path_text:
        raise ConfigError("GITHUB_EVENT_PATH is not set.", hint=hint)
    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"GITHUB_EVENT_PATH points at {path}, which does not exist.", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"GITHUB_EVENT_PATH points at {path}, which cannot be read ({reason}).", hint=hint) from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The event file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).", hint=hint
        ) from None
    if not isinstance(payload, dict):
        raise ConfigError(f"The event file {path} holds a JSON {type(payload).__name__}, not an object.", hint=hint)
    return payload


def _payload_repo(payload: dict[str, Any]) -> str:
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) else ""


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value and value.strip() else None


def resolve_options(args: argparse.Namespace, env: RunnerEnv) -> Options:
    """Flags (the Action's inputs) first; a manual run's `workflow_dispatch` inputs override them."""
    label, max_issues, budget, task, issue = args.label, args.max_issues, args.budget, args.task, args.issue
    if env.event_name == "workflow_dispatch":
        inputs = env.payload.get("inputs")
        given = {k.replace("-", "_"): str(v).strip() for k, v in (inputs or {}).items() if v not in (None, "")}
        label = given.get("label", label)
        max_issues = given.get("max_issues", max_issues)
        budget = given.get("budget", budget)
        task = given.get("task", task)
        issue = given.get("issue", issue)
    options = Options(
        label=_label(label),
        max_issues=_int(max_issues, "max-issues", DEFAULT_MAX_ISSUES, low=0, high=100),
        budget_usd=_budget(budget),
        task=(task or "").strip(),
        issue=None if issue in (None, "") else _int(issue, "issue", 0, low=1, high=10**9),
        fail_on_error=bool(args.fail_on_error),
    )
    if options.task and options.issue is None:
        raise ConfigError(
            "A task needs an issue to work on: equitr reports progress and opens its pull request there.",
            hint="Open an issue that describes the task and pass its number as the `issue` input "
            "(workflow_dispatch) or --issue N.",
        )
    return options


def _label(value: str | None) -> str | None:
    label = (value or "").strip()
    if not label:
        return None
    if len(label) > 50 or any(c in label for c in "\n\r,"):
        raise ConfigError(f"The label {label!r} is not a GitHub label name.", hint="Use a name like `equitr`.")
    return label


def _int(value: Any, name: str, default: int, *, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {str(value)!r}.") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {number}.")
    return number


def _budget(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_BUDGET_USD
    try:
        usd = usd_amount(str(value))
    except ValueError:
        raise ConfigError(f"budget must be an amount in USD such as 2.5, not {str(value)!r}.") from None
    if not budget_in_range(usd):
        raise ConfigError(f"budget must be more than 0 and at most {MAX_BUDGET_USD:g} (USD), not {usd:g}.")
    return usd


# -- the run ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Skipped:
    number: int
    title: str
    reason: str


@dataclass(slots=True)
class Report:
    env: RunnerEnv
    options: Options
    jobs: list[Job] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Job]:
        return [j for j in self.jobs if j.state != "done"]

    @property
    def cost_usd(self) -> float:
        return sum(j.cost_usd for j in self.jobs)


def action_settings(env: Mapping[str, str], tmp: Path) -> Settings:
    """Token mode, always: the Action acts with the token it is given. The queue is the embedded one, since
    this process runs every job itself; the store is `EQUITR_DB` when set, else a temporary file."""
    from equitr.config import settings as settings_mod

    settings = settings_mod.load()
    try:
        settings.require_token()
    except ConfigError as exc:
        raise ConfigError(
            exc.message,
            hint="Pass `github-token` to the Action (its default is `${{ github.token }}`), or set GITHUB_TOKEN "
            "in the step's `env:`.",
        ) from None
    db = settings.db if env.get("EQUITR_DB", "").strip() else tmp / "equitr.db"
    return settings.model_copy(
        update={"db": db, "queue_url": "", "gh_app_id": None, "gh_private_key": None, "gh_private_key_path": None}
    )


@dataclass(slots=True)
class Run:
    """What every step of one Action run shares."""

    services: Services
    runner: Runner
    gh: GitHubAPI
    identity: Identity


async def execute(env: RunnerEnv, options: Options, settings: Settings) -> Report:
    from equitr import services as services_mod

    report = Report(env=env, options=options)
    services = services_mod.build(settings)
    try:
        async with aiohttp.ClientSession() as session:
            github = services_mod.session_factory(services, session)
            run = Run(services, services.runner(), await github(None), await services.access.identity(session))
            if env.event_name in DISPATCHED_EVENTS:
                job_ids = await _dispatch(env, options, run, github, report)
                await _post_notices(services, run.runner)
                for job_id in job_ids:
                    await _run(run, job_id, report)
            elif options.task:
                await _task(env, options, run, report)
            else:
                await _backlog(env, options, run, report)
    finally:
        services.close()
    return report


def _target(env: RunnerEnv) -> int | None:
    """The issue or pull request the event is about, if any."""
    for key in ("issue", "pull_request"):
        item = env.payload.get(key)
        if isinstance(item, dict) and isinstance(item.get("number"), int):
            return int(item["number"])
    return None


async def _load_history(env: RunnerEnv, run: Run, report: Report, number: int | None) -> None:
    """Earlier runs' jobs, read back from their records on GitHub (`equitr.history`): the issue's whole history
    (status, cost, retry), then this month's jobs in the repository (the month's spend and budget)."""
    from equitr import history

    assert isinstance(run.services.store, SqliteStore)  # the Action's store is always a local SQLite file
    store = run.services.store
    try:
        found = []
        if number is not None:
            found += await history.read_issue(run.gh, env.repository, number, author=run.identity)
        found += await history.read_repo(
            run.gh, env.repository, since=history.month_start(time.time()), author=run.identity
        )
    except (EquitrError, GitHubException, aiohttp.ClientError) as exc:
        # History is an aid, not a precondition: without it this run still does its work.
        report.notes.append(f"Earlier runs' job history could not be read from GitHub ({exc}).")
        log.warning("job history not read: %s", exc)
        return
    adopted = 0
    for job in sorted(found, key=lambda j: (j.number != number, j.created_at)):
        adopted += await asyncio.to_thread(store.adopt, job) is not None
    log.info("job history: %d earlier job(s) read from GitHub", adopted)


async def _dispatch(env: RunnerEnv, options: Options, run: Run, github: Any, report: Report) -> list[int]:
    """The webhook server's own path: feature routers, permission check, durable job, 👀; first, when the
    event asks for work, the job history (an event for someone else costs no GitHub call for it)."""
    from equitr.dispatch import Dispatcher

    services = run.services

    dispatcher = Dispatcher(
        store=services.store,
        queue=services.queue,
        github=github,
        permissions=services.permissions,
        identity=services.identity,
        trigger_label=options.label,
        max_age_s=None,  # the runner's event comes from GitHub itself: it cannot be a replay
    )
    if await dispatcher.asks_for_work(env.event_name, env.delivery_id, env.payload):
        await _load_history(env, run, report, _target(env))
    outcome = await dispatcher.dispatch(env.event_name, env.delivery_id, env.payload)
    await dispatcher.acknowledge(outcome.acks)
    if not outcome.job_ids:
        report.notes.append(f"No job for this `{env.event_name}` event: {outcome.message}.")
    return outcome.job_ids


async def _post_notices(services: Services, runner: Runner) -> None:
    """Replies that are not jobs (usage help, the polite refusal), taken off the queue and posted now. Job
    messages are dropped: this process runs its jobs itself."""
    huey = services.queue.huey
    while (task := huey.dequeue()) is not None:
        if task.name == "equitr.notify":
            await asyncio.to_thread(runner.notify, task.args[0])


async def _run(run: Run, job_id: int, report: Report) -> Job | None:
    from equitr import history

    await run.runner.run(job_id)
    job = await asyncio.to_thread(run.services.store.get, job_id)
    if job is None:
        return None
    report.jobs.append(job)
    try:  # the record later runs read back: without it, this job is missing from their history
        await history.write(run.gh, job, author=run.identity)
    except (EquitrError, GitHubException, aiohttp.ClientError) as exc:
        report.notes.append(f"Job {job.id}'s record could not be written to GitHub ({exc}).")
        log.warning("job %s: record not written: %s", job.id, exc)
    return job


async def _task(env: RunnerEnv, options: Options, run: Run, report: Report) -> None:
    """A manual task: `/equitr fix <task>` on the issue named for it."""
    assert options.issue is not None
    issue = await run.gh.getitem(f"/repos/{env.repository}/issues/{options.issue}")
    if issue.get("pull_request"):
        raise ConfigError(f"#{options.issue} is a pull request; a task needs an issue.")
    await _load_history(env, run, report, options.issue)
    job = await asyncio.to_thread(_create_fix, env, run.services, issue, options.task, options.budget_usd)
    if job is None:
        report.skipped.append(Skipped(options.issue, str(issue.get("title", "")), "already started in this run"))
        return
    await _run(run, job.id, report)


async def _backlog(env: RunnerEnv, options: Options, run: Run, report: Report) -> None:
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
    for task in tasks:
        work.append((await _task_issue(gh, env.repository, task.name, task.prompt), task.prompt))
    if work:
        await _load_history(env, run, report, None)
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
        finished = await _run(run, job.id, report)
        spent += finished.cost_usd if finished is not None else 0.0


async def _config(gh: GitHubAPI, repo: str) -> RepoConfig:
    data = await gh.getitem(f"/repos/{repo}")
    return await fetch_config(gh, repo, str(data["default_branch"]))


TASK_TITLE = "equitr task: {name}"


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
    head = urllib.parse.quote(f"{owner}:{BRANCH.format(number=number)}", safe=":")
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


# -- the summary -----------------------------------------------------------------------------------------


def render_summary(report: Report) -> str:
    env, options = report.env, report.options
    lines = [f"## equitr · `{env.event_name}` on {env.repository}", ""]
    if report.jobs:
        lines += ["| job | target | kind | state | cost (USD) | note |", "|---|---|---|---|---:|---|"]
        for job in report.jobs:
            thing = "pull" if job.args.get("is_pull_request") else "issues"
            target = f"[#{job.number}]({env.server_url}/{job.repo}/{thing}/{job.number})"
            title = _cell(str(job.args.get("title", "")))
            target += f" {title}" if title else ""
            lines.append(
                f"| {job.id} | {target} | `{job.kind}` | **{job.state}** | ${job.cost_usd:.4f} | {_cell(job.reason)} |"
            )
        lines.append("")
    if report.skipped:
        lines.append("**Skipped**")
        lines.append("")
        for skip in report.skipped:
            lines.append(
                f"- [#{skip.number}]({env.server_url}/{env.repository}/issues/{skip.number}) "
                f"{_cell(skip.title)} — {skip.reason}"
            )
        lines.append("")
    lines += [f"{note}" for note in report.notes]
    if report.notes:
        lines.append("")
    done = sum(1 for j in report.jobs if j.state == "done")
    total = f"**Total:** {len(report.jobs)} job(s), {done} done, {len(report.failed)} not done · ${report.cost_usd:.4f}"
    if env.event_name in BACKLOG_EVENTS:
        total += f" of a ${options.budget_usd:.2f} budget (label `{options.label}`, max-issues {options.max_issues})"
    lines.append(total)
    if report.failed:
        lines += [
            "",
            "The note says why a job did not finish."
            + ("" if options.fail_on_error else " This step still succeeds; set `fail-on-error: true` to fail it."),
        ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    from equitr.sanitize import sanitize_inline

    return sanitize_inline(" ".join(text.split()).replace("|", "\\|")[:200])  # a job's reason may quote a model


def _write_outputs(report: Report) -> None:
    if report.env.output_path is None:
        return
    with report.env.output_path.open("a", encoding="utf-8") as out:
        out.write(f"jobs={len(report.jobs)}\nfailed={len(report.failed)}\ncost-usd={report.cost_usd:.6f}\n")


def _append(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        log.warning("could not write the step summary to %s: %s", path, exc.strerror)


# -- command line ----------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label",
        default=None,
        help=f"the trigger label (default: `[trigger] label` of .equitr.toml, else {DEFAULT_LABEL!r})",
    )
    parser.add_argument(
        "--max-issues", default=None, help=f"issues worked on per scheduled run at most (default {DEFAULT_MAX_ISSUES})"
    )
    parser.add_argument(
        "--budget", default=None, help=f"USD one scheduled run may spend in all (default {DEFAULT_BUDGET_USD:g})"
    )
    parser.add_argument("--task", default=None, help="workflow_dispatch: instructions for a fix job on --issue")
    parser.add_argument("--issue", default=None, help="workflow_dispatch: the issue a --task works on")
    parser.add_argument(
        "--fail-on-error", action="store_true", help="exit 1 when any job ends failed or cancelled (default: 0)"
    )


def add_parser(sub: Any) -> None:
    """Register `equitr action` on the main CLI's subparsers."""
    add_arguments(sub.add_parser("action", help="entry point of the GitHub Action (reads GITHUB_* variables)"))


def command(args: argparse.Namespace) -> int:
    """Run with parsed arguments; errors become one line plus a hint, never a traceback."""
    environ = os.environ
    try:
        env = read_runner_env(environ)
        options = resolve_options(args, env)
        if env.event_name not in DISPATCHED_EVENTS | BACKLOG_EVENTS:
            message = (
                f"equitr action has nothing to do for `{env.event_name}` events; it handles "
                + ", ".join(sorted(DISPATCHED_EVENTS | BACKLOG_EVENTS))
                + "."
            )
            _annotate(environ, "warning", message)
            print(message)
            _append(env.summary_path, f"## equitr\n\n{message}\n")
            return 0
        with tempfile.TemporaryDirectory(prefix="equitr-action-") as tmp:
            settings = action_settings(environ, Path(tmp))
            with _commands_stopped(environ):
                report = asyncio.run(execute(env, options, settings))
    except GitHubError as exc:
        return _fail(environ, exc.message, GITHUB_HINT if exc.status in (401, 403, 404) else exc.hint)
    except EquitrError as exc:
        return _fail(environ, exc.message, exc.hint)
    except Exception as exc:
        if isinstance(exc, GitHubException):
            return _fail(environ, f"GitHub refused a request: {exc}.", GITHUB_HINT)
        if environ.get("RUNNER_DEBUG") == "1":
            traceback.print_exc()
        return _fail(
            environ,
            f"unexpected error ({type(exc).__name__}: {exc}).",
            "Re-run the job with debug logging enabled to see where it happened, and report it.",
        )
    summary = render_summary(report)
    _append(report.env.summary_path, summary)
    _write_outputs(report)
    print(summary)
    for job in report.failed:
        _annotate(environ, "warning", f"job {job.id} ({job.kind} on #{job.number}) ended {job.state}: {job.reason}")
    return 1 if report.failed and options.fail_on_error else 0


def _fail(environ: Mapping[str, str], message: str, hint: str | None) -> int:
    from equitr.redact import escape_workflow_commands, on_github_runner, redact
    from equitr.sanitize import sanitize_inline

    message = redact(message)
    shown = escape_workflow_commands if on_github_runner(dict(environ)) else str
    print(f"equitr: {shown(message)}", file=sys.stderr)
    if hint:
        print(f"  → {shown(hint)}", file=sys.stderr)
    _annotate(environ, "error", message)
    summary = _optional_path(environ.get("GITHUB_STEP_SUMMARY"))
    _append(summary, f"## equitr could not run\n\n{sanitize_inline(message)}\n\n{sanitize_inline(hint or '')}\n")
    return 1


@contextmanager
def _commands_stopped(environ: Mapping[str, str]) -> Iterator[None]:
    """On GitHub's runners, nothing printed while the jobs run is read as a workflow command: the runner
    ignores `::…` lines between `::stop-commands::TOKEN` and `::TOKEN::` (TOKEN random, so no text can end
    the pause early). Log lines are also escaped one by one (`equitr.redact.LogFilter`); this covers the rest
    (a library printing to stdout, a subprocess's output)."""
    if environ.get("GITHUB_ACTIONS") != "true":
        yield
        return
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", flush=True)
    try:
        yield
    finally:
        sys.stderr.flush()
        print(f"::{token}::", flush=True)


def _annotate(environ: Mapping[str, str], level: str, message: str) -> None:
    """A workflow command, so the message shows on the run's page (only on GitHub's runners)."""
    if environ.get("GITHUB_ACTIONS") == "true":
        escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::{level} title=equitr::{escaped}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equitr action", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        redact.install_log_filter()
    return command(args)


if __name__ == "__main__":
    sys.exit(main())

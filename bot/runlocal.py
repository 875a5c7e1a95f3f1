"""`equitr run --repo PATH "task"`: the whole engine on a local repository, no GitHub.

The agent works in a fresh checkout of the repository's HEAD (your working tree is never touched); an
accepted change becomes the branch `equitr/<slug>` in your repository.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.agent.ledger import Limits
from bot.agent.loop import Agent, AgentResult, Event, Task
from bot.agent.report import cost_text
from bot.agent.testcmd import detect
from bot.errors import ConfigError
from bot.models.client import ChatModel, Endpoints, ModelClient
from bot.models.manager import ModelManager, choose_model
from bot.sandbox import binaries
from bot.sandbox.bwrap import SandboxMode
from bot.sandbox.context import ToolContext
from bot.sandbox.gitsafe import run_git
from bot.sandbox.workspace import Workspace, auth_env
from bot.settings import Settings

AUTHOR = "equitr <equitr@users.noreply.github.com>"


@dataclass(frozen=True, slots=True)
class RunOptions:
    repo: Path
    task: str
    model: str | None = None
    worker_model: str | None = None
    budget_usd: float = 1.0
    test_command: str | None = None
    setup_command: str = ""
    max_iterations: int = 3


def slug(text: str, *, limit: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (words[:limit].rstrip("-") or "change") if words else "change"


def _progress(out: Callable[[str], None]) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        out(f"  [{event.kind}] {event.message}")
        for line in event.data.get("steps", []):
            out(f"      - {line}")

    return show


async def run_local(
    options: RunOptions,
    settings: Settings,
    *,
    model: ChatModel | None = None,
    out: Callable[[str], None] = print,
) -> int:
    repo = options.repo.resolve()
    if not (repo / ".git").exists():
        raise ConfigError(
            f"{repo} is not a git repository.", hint="Point --repo at a git checkout (git init; git commit)."
        )
    supervisor, embedded = choose_model(options.model or settings.supervisor_model)
    worker = options.worker_model or settings.worker_model or supervisor
    manager = ModelManager()
    for name in {supervisor, worker}:
        manager.validate_model(name)  # ConfigError with the closest valid names
    if embedded:
        out(
            f"No model configured: using the embedded local model {supervisor} (set EQUITR_SUPERVISOR_MODEL "
            "or --model to use another)."
        )
    out(f"supervisor: {supervisor}   worker: {worker}   budget: ${options.budget_usd:.2f}")
    mode: SandboxMode = settings.sandbox
    base = settings.workdir or Path(tempfile.gettempdir()) / "equitr-work"
    workspace = Workspace(base)
    with workspace.checkout(f"local/{repo.name}", str(repo)) as checkout:
        head = checkout.head()
        test_command = options.test_command if options.test_command is not None else detect(checkout.root)
        out(f"working on a fresh checkout of {repo} at {head[:10]} (uncommitted changes are not included)")
        out(f"test command: {test_command or '(none found; pass --test-command)'}")
        out(f"sandbox: {binaries.sandbox_line(mode)}")
        if options.setup_command:
            out(f"setup command: {options.setup_command} (once, with the network, before the first test run)")
        tools = ToolContext(
            root=checkout.root, sandbox_mode=mode, test_command=test_command, setup_command=options.setup_command
        )
        limits = Limits(budget_usd=options.budget_usd, max_iterations=options.max_iterations)
        async with aiohttp.ClientSession() as session:
            client = model or ModelClient(session, Endpoints.from_settings(settings))
            agent = Agent(
                model=client, supervisor=supervisor, worker=worker, tools=tools, limits=limits, on_event=_progress(out)
            )
            result = await agent.run(Task(options.task, mode="fix"))
        branch = None
        if result.status == "accepted" and result.changed:
            branch = f"equitr/{slug(options.task)}"
            checkout.create_branch(branch)
            checkout.commit_staged(f"{options.task.strip()[:72]}\n\nMade by equitr run.", AUTHOR)
            # Bring the branch into the user's repository; their working tree and current branch stay as they are.
            run_git(
                ["fetch", "--quiet", "--no-tags", str(checkout.root), f"+{branch}:{branch}"],
                cwd=repo,
                git_dir=repo / ".git",
                env=auth_env(None, str(checkout.root)),
            )
    report(result, branch=branch, budget_usd=options.budget_usd, out=out)
    return 0 if result.status == "accepted" else EXIT_NOT_ACCEPTED


# The run ended cleanly but the supervisor accepted no change: distinct from 1 (an error), so that scripts
# can tell "the model could not do it" from "equitr could not run".
EXIT_NOT_ACCEPTED = 3


def report(result: AgentResult, *, branch: str | None, budget_usd: float, out: Callable[[str], None]) -> None:
    out("")
    out(f"result: {result.status} — {result.reason}")
    if result.hint:
        out(f"  → {result.hint}")
    if result.tests_before is not None:
        if result.setup:
            out(result.setup)
        out(f"tests before: {result.tests_before.summary}")
    if result.tests_after is not None:
        out(f"tests after:  {result.tests_after.summary}")
    if branch:
        out(f"branch: {branch} (try it: git diff HEAD...{branch})")
    elif result.changed:
        out("the change was not accepted, so no branch was created; the diff was:")
    if result.diff and not branch:
        out(result.diff[:4000])
    out("")
    out(cost_text(result.ledger, budget_usd=budget_usd))
    sys.stdout.flush()

"""`equitr run --repo PATH "task"`: the whole engine on a local repository, no GitHub.

The agent works in a fresh checkout of the commit your repository's HEAD is on now (your working tree is never
touched), with the `.equitr.toml` of that commit, as the App uses the one of the default branch; command-line
flags override it within its bounds. An accepted change becomes a new branch `equitr/<slug>` in your
repository, or `equitr/<slug>-2`, `-3`, … when that name is taken: an existing branch is never moved.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.agent.calls import Exchange
from bot.agent.loop import Agent, AgentResult, Event, Strategy, Task
from bot.agent.report import cost_text
from bot.agent.testcmd import detect
from bot.errors import ConfigError
from bot.jobrecord import record_result
from bot.models.client import ChatModel, Endpoints, ModelClient
from bot.models.manager import ModelManager, choose_model
from bot.money import usd
from bot.redact import redact
from bot.repoconfig import FILENAME, MAX_BYTES, Problem, RepoConfig, RepoConfigError, load_default, parse, resolve_flags
from bot.sandbox import binaries
from bot.sandbox.context import ToolContext
from bot.sandbox.gitsafe import GitResult, git_in, run_git
from bot.sandbox.quota import DiskQuota
from bot.sandbox.workspace import Checkout, Workspace, auth_env
from bot.settings import Settings

AUTHOR = "equitr <equitr@users.noreply.github.com>"


@dataclass(frozen=True, slots=True)
class RunOptions:
    repo: Path
    task: str
    model: str | None = None
    worker_model: str | None = None
    # None: what the repository's `.equitr.toml` says (or its default), as for a job of the App.
    budget_usd: float | None = None
    test_command: str | None = None
    setup_command: str | None = None
    max_iterations: int | None = None
    transcript: Path | None = None  # where to write every model call (JSON lines), for reading the prompts
    strategy: Strategy | None = None  # None: models.strategy of `.equitr.toml` (default auto)


def slug(text: str, *, limit: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (words[:limit].rstrip("-") or "change") if words else "change"


def _progress(out: Callable[[str], None]) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        if event.kind == "plan" and "new" in event.data:
            return  # a tool-calling step: its own `step` event says what it is
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
    where = _current_branch(repo)
    base = settings.workdir or Path(tempfile.gettempdir()) / "equitr-work"
    workspace = Workspace(base)
    with workspace.checkout(f"local/{repo.name}", str(repo)) as checkout:
        head = _check_out_head(checkout, repo)
        config = read_config(checkout.root, head)
        effective = resolve_flags(
            config or load_default(), budget_usd=options.budget_usd, model=options.model,
            worker_model=options.worker_model,
        )  # fmt: skip
        supervisor, embedded = choose_model(effective.supervisor_model or settings.supervisor_model)
        worker = effective.worker_model or settings.worker_model or supervisor
        manager = ModelManager()
        for name in {supervisor, worker}:
            manager.validate_model(name)  # ConfigError with the closest valid names
        if embedded:
            out(
                f"No model configured: using the embedded local model {supervisor} (set EQUITR_SUPERVISOR_MODEL "
                "or --model to use another)."
            )
        out(f"supervisor: {supervisor}   worker: {worker}   budget: {usd(effective.budget_usd)}")
        test_command = options.test_command if options.test_command is not None else effective.test_command
        test_command = test_command or detect(checkout.root)
        setup_command = options.setup_command if options.setup_command is not None else effective.setup_command
        out(f"working on a fresh checkout of {repo} at {head[:10]} ({where}; uncommitted changes are not included)")
        out(
            f"configuration: {FILENAME} of that commit"
            if config is not None
            else f"configuration: defaults (no {FILENAME} in that commit)"
        )
        out(f"test command: {test_command or '(none found; pass --test-command)'}")
        out(f"sandbox: {binaries.sandbox_line(settings.sandbox)}")
        if setup_command:
            out(f"setup command: {setup_command} (once, with the network, before the first test run)")
        tools = ToolContext(
            root=checkout.root,
            sandbox_mode=settings.sandbox,
            test_command=test_command,
            setup_command=setup_command,
            setup_network=settings.setup_network,
            policy=effective.write_policy(),  # blocked paths and CI files, as the App enforces them
            disk=DiskQuota(limit_bytes=effective.max_disk_mb * 1024**2),
        )
        limits = effective.limits()
        if options.max_iterations is not None:
            limits = dataclasses.replace(limits, max_iterations=options.max_iterations)
        async with aiohttp.ClientSession() as session:
            client = model or ModelClient(session, Endpoints.from_settings(settings))
            agent = Agent(
                model=client,
                supervisor=supervisor,
                worker=worker,
                tools=tools,
                limits=limits,
                on_event=_progress(out),
                strategy=options.strategy or effective.strategy,
                max_output_tokens=effective.max_output_tokens,
                timeout_s=settings.model_timeout_s,
            )
            try:
                result = await agent.run(Task(options.task, mode="fix"))
            finally:
                if options.transcript is not None:
                    write_transcript(options.transcript, agent.calls.transcript)
                    out(f"transcript of {len(agent.calls.transcript)} model calls: {options.transcript}")
            record_result(result)  # for the monitor's record (`equitr run` keeps it when EQUITR_DB is set)
        branch: str | None = None
        taken: list[str] = []
        if result.status == "accepted" and result.changed:
            checkout.create_branch(f"equitr/{slug(options.task)}")
            checkout.commit_staged(f"{options.task.strip()[:72]}\n\nMade by equitr run.", AUTHOR)
            branch, taken = _hand_over(checkout, repo, f"equitr/{slug(options.task)}")
    report(result, branch=branch, budget_usd=effective.budget_usd, out=out, taken=taken)
    return 0 if result.status == "accepted" else EXIT_NOT_ACCEPTED


def write_transcript(path: Path, exchanges: Sequence[Exchange]) -> None:
    """Every model call as one JSON line (secrets redacted): the prompts exactly as the models saw them."""
    with path.open("w", encoding="utf-8") as fh:
        for exchange in exchanges:
            fh.write(redact(json.dumps(exchange.to_json(), ensure_ascii=False)) + "\n")


def _user_git(repo: Path, *args: str, check: bool = False, env: dict[str, str] | None = None) -> GitResult:
    """git in the user's own repository (found from `repo` as git would: a worktree's `.git` file works)."""
    return run_git(list(args), cwd=repo, check=check, env=env)


def _current_branch(repo: Path) -> str:
    if not _user_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").ok:
        raise ConfigError(f"{repo} has no commits yet.", hint="Commit your work first: equitr works on a commit.")
    name = _user_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    return f"branch {name}" if name else "detached HEAD"


def _check_out_head(checkout: Checkout, repo: Path) -> str:
    """Check out the user's HEAD as it is now: the branch they are on, or a detached commit. (The cached
    mirror's own HEAD is whatever branch was current when it was first made.)"""
    git_in(checkout.root, ["fetch", "--quiet", "--no-tags", str(repo), "HEAD"], env=auth_env(None, str(repo)))
    head = checkout.git("rev-parse", "--verify", "FETCH_HEAD^{commit}").stdout.strip()
    checkout.git("checkout", "--quiet", "--detach", head)
    return head


def read_config(root: Path, commit: str) -> RepoConfig | None:
    """`.equitr.toml` as committed in `commit` (not as it is in a working tree): None when it has none."""
    listed = git_in(root, ["ls-tree", "-z", commit, "--", FILENAME]).stdout.rstrip("\0")
    if not listed:
        return None
    mode, kind, oid = listed.split("\t", 1)[0].split()
    try:
        if kind != "blob" or mode not in ("100644", "100755"):
            raise RepoConfigError([Problem("", "is not a regular file")])
        if int(git_in(root, ["cat-file", "-s", oid]).stdout) > MAX_BYTES:
            raise RepoConfigError([Problem("", f"the file is larger than {MAX_BYTES // 1024} KiB")])
        return parse(git_in(root, ["cat-file", "blob", oid]).stdout)
    except RepoConfigError as exc:
        exc.hint = f"Fix {FILENAME} and commit it; docs/configuration.md lists every key and its default."
        raise


def _hand_over(checkout: Checkout, repo: Path, wanted: str) -> tuple[str, list[str]]:
    """Bring the commit into the user's repository as a new branch: `wanted`, or `wanted-2`, `-3`, … when
    that name is taken. An existing branch is never moved, so no commit of the user's is ever lost.
    Returns the branch made and the names that were taken."""
    sha = checkout.head()
    _user_git(
        repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(checkout.root), f"refs/heads/{wanted}",
        check=True, env=auth_env(None, str(checkout.root)),
    )  # fmt: skip
    taken: list[str] = []
    for n in range(1, 1000):
        name = wanted if n == 1 else f"{wanted}-{n}"
        # Create only if absent (the all-zero old value), atomically: a branch made meanwhile is kept too.
        if _user_git(repo, "update-ref", "-m", "equitr run", f"refs/heads/{name}", sha, "0" * len(sha)).ok:
            return name, taken
        taken.append(name)
    raise ConfigError(f"Could not find a free branch name for {wanted}.", hint="Delete old equitr/ branches.")


# The run ended cleanly but the supervisor accepted no change: distinct from 1 (an error), so that scripts
# can tell "the model could not do it" from "equitr could not run".
EXIT_NOT_ACCEPTED = 3


def report(
    result: AgentResult,
    *,
    branch: str | None,
    budget_usd: float,
    out: Callable[[str], None],
    taken: Sequence[str] = (),
) -> None:
    out("")
    out(f"result: {result.status} — {result.reason}")
    out(f"strategy: {result.strategy}")
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
        if taken:
            names = " or ".join(taken)
            out(f"  (not {names}: taken already; equitr never moves an existing branch)")
    elif result.changed:
        out("the change was not accepted, so no branch was created; the diff was:")
    if result.diff and not branch:
        out(result.diff[:4000])
    out("")
    out(cost_text(result.ledger, budget_usd=budget_usd))
    sys.stdout.flush()

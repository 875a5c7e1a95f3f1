"""What a run is given: the runner's variables (`RunnerEnv`) and the Action's inputs (`Options`).

Every problem is a one-line `ConfigError` with a hint, before any request to GitHub.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from equitr.errors import ConfigError
from equitr.events.commands import MAX_BUDGET_USD, budget_in_range, usd_amount

if TYPE_CHECKING:
    from equitr.config.settings import Settings

DISPATCHED_EVENTS = frozenset({"issue_comment", "issues", "pull_request"})
BACKLOG_EVENTS = frozenset({"schedule", "workflow_dispatch"})
DEFAULT_LABEL = "equitr"
DEFAULT_MAX_ISSUES = 3
DEFAULT_BUDGET_USD = 3.0


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Action's inputs as flags (`actions/action.yml` passes them so)."""
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


def read_runner_env(environ: Mapping[str, str]) -> RunnerEnv:
    """Validate the runner's variables; every problem is a one-line ConfigError with a hint."""
    name = environ.get("GITHUB_EVENT_NAME", "").strip()
    if not name:
        raise ConfigError(
            "GITHUB_EVENT_NAME is not set.",
            hint="`equitr action` runs inside a GitHub Actions workflow; to try it elsewhere set GITHUB_EVENT_NAME "
            "and GITHUB_EVENT_PATH to an event name and a payload file (see docs/action.md).",
            kind="missing-setting",
        )
    payload = _read_event(environ.get("GITHUB_EVENT_PATH", "").strip())
    repository = environ.get("GITHUB_REPOSITORY", "").strip() or _payload_repo(payload)
    if not repository or repository.count("/") != 1:
        raise ConfigError(
            f"GITHUB_REPOSITORY is {'not set' if not repository else repr(repository)}, and the event names no "
            "repository.",
            hint="Set GITHUB_REPOSITORY to OWNER/NAME (GitHub's runner sets it for you).",
            kind=None if repository else "missing-setting",
        )
    return RunnerEnv(
        event_name=name,
        payload=payload,
        repository=repository,
        run_id=environ.get("GITHUB_RUN_ID", "").strip(),
        run_attempt=environ.get("GITHUB_RUN_ATTEMPT", "").strip() or "1",
        actor=environ.get("GITHUB_TRIGGERING_ACTOR", "").strip() or environ.get("GITHUB_ACTOR", "").strip(),
        server_url=(environ.get("GITHUB_SERVER_URL", "").strip() or "https://github.com").rstrip("/"),
        summary_path=optional_path(environ.get("GITHUB_STEP_SUMMARY")),
        output_path=optional_path(environ.get("GITHUB_OUTPUT")),
    )


def _read_event(path_text: str) -> dict[str, Any]:
    hint = "GitHub's runner sets GITHUB_EVENT_PATH to the event's JSON file; outside a runner, point it at one."
    if not path_text:
        raise ConfigError("GITHUB_EVENT_PATH is not set.", hint=hint, kind="missing-setting")
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


def optional_path(value: str | None) -> Path | None:
    """A runner variable naming a file (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT); unset or blank is None."""
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
    """The `budget` input, read as `/equitr fix --budget` reads it (`equitr.events.commands`), in the Action's
    wording."""
    if value is None or value == "":
        return DEFAULT_BUDGET_USD
    try:
        usd = usd_amount(str(value))
    except ValueError:
        raise ConfigError(f"budget must be an amount in USD such as 2.5, not {str(value)!r}.") from None
    if not budget_in_range(usd):
        raise ConfigError(f"budget must be more than 0 and at most {MAX_BUDGET_USD:g} (USD), not {usd:g}.")
    return usd


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
            kind=exc.kind,
        ) from None
    db = settings.db if env.get("EQUITR_DB", "").strip() else tmp / "equitr.db"
    return settings.model_copy(
        update={"db": db, "queue_url": "", "gh_app_id": None, "gh_private_key": None, "gh_private_key_path": None}
    )

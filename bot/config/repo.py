"""`.equitr.toml`: a repository's own settings for equitr, validated, with documented defaults.

    [models]    strategy, supervisor, worker, fallback, allowed
    [budget]    per_job_usd, per_month_usd, max_flag_usd
    [review]    auto, on, skip_drafts, skip_bots, auto_forks, forks_per_month_usd, max_files, max_patch_lines
    [fix]       draft_pr, test_command, setup_command, blocked_paths
    [trigger]   label
    [limits]    max_steps, max_iterations, max_minutes, max_output_tokens
    [schedule]  max_issues_per_run, budget_usd, [[schedule.tasks]] name, prompt, cron

Every key is optional; a missing file means all defaults. A bad file never half-applies: `parse` either
returns a whole `RepoConfig` or raises `RepoConfigError` (`equitr.config.problems`) listing *every* problem,
each naming its dotted key, the value found and what is allowed (for an unknown key, the closest valid one).
The reference with all defaults is docs/configuration.md; `equitr.config.reference` is the source it is
checked against.

The file is read from the default branch only (`equitr.config.fetch`), and command flags are bounded by it
(`equitr.config.flags`).
"""

from __future__ import annotations

import re
import tomllib
from typing import Annotated, Any, Literal, get_args

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from equitr.config.problems import Problem, syntax_problem, toml_value, validation_problems
from equitr.errors import ConfigError, RepoConfigError
from equitr.events.commands import MAX_BUDGET_USD
from equitr.models.names import PROVIDERS
from equitr.models.prices import validate_model
from equitr.sandbox.policy import ALWAYS_BLOCKED, CI_PATHS, matches

MAX_BYTES = 256 * 1024  # a configuration file, not a data file; also bounds what a parse can cost
ReviewEvent = Literal["opened", "ready_for_review", "synchronize"]
REVIEW_EVENTS: tuple[ReviewEvent, ...] = ("opened", "ready_for_review", "synchronize")


def _key(default: Any = None, *, allowed: str, doc: str, **constraints: Any) -> Any:
    """A documented key: `allowed` is shown in errors and in the reference, `doc` in the reference."""
    extra: JsonDict = {"allowed": allowed}
    if callable(default):
        return Field(default_factory=default, description=doc, json_schema_extra=extra, **constraints)
    return Field(default, description=doc, json_schema_extra=extra, **constraints)


def _usd(default: float, *, at_most: float, doc: str) -> Any:
    """A key in US dollars: more than 0 and at most `at_most`."""
    allowed = f"a number of US dollars more than 0 and at most {at_most:g}"
    return _key(default, gt=0, le=at_most, allowed=allowed, doc=doc)


def _whole(default: int | None, low: int, high: int, *, unit: str = "", doc: str) -> Any:
    """A key holding a whole number from `low` to `high`; `unit` (tokens, MiB) is named in the allowed values."""
    of = f" of {unit}" if unit else ""
    return _key(default, ge=low, le=high, allowed=f"a whole number{of} between {low} and {high}", doc=doc)


class _Section(BaseModel):
    # strict: a TOML file has real types, so `auto = "no"` or `max_steps = "40"` is a mistake worth naming.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_model(name: str) -> str:
    try:
        return str(validate_model(name))
    except ConfigError as exc:
        raise PydanticCustomError("model_name", "{message}", {"message": exc.message, "hint": exc.hint or ""}) from None


def _check_allowed_entry(name: str) -> str:
    if not name.endswith("/*"):
        return _check_model(name)
    if name[:-2] not in PROVIDERS:
        raise PydanticCustomError(
            "model_name",
            "Unknown model provider in {name}",
            {"name": name, "hint": "Providers: " + ", ".join(PROVIDERS)},
        )
    return name


def _check_glob(pattern: str) -> str:
    if not pattern.strip() or pattern.startswith("/") or ".." in pattern.split("/"):
        raise PydanticCustomError("path_glob", "{pattern} is not a relative pattern", {"pattern": pattern})
    if pattern.startswith(("!", "#")):  # negation and comments in gitignore syntax: they would block nothing
        meaning = "a negation" if pattern[0] == "!" else "a comment"
        raise _pattern_error(
            f"starts with `{pattern[0]}`, which makes it {meaning} in gitignore syntax; write `\\{pattern}` for a "
            "name that starts with it"
        )
    return pattern


def _check_allow_ci(pattern: str) -> str:
    _check_glob(pattern)
    if any(matches(blocked, pattern) for blocked in ALWAYS_BLOCKED):
        raise _pattern_error("is under `.github/workflows`, which is always blocked: workflows run with the secrets")
    if not any(c.pattern == pattern or matches(c.pattern, pattern) for c in CI_PATHS):
        raise _pattern_error("is not one of the CI paths equitr blocks by default, nor under one")
    return pattern


def _pattern_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("path_pattern", "{message}", {"message": message})


# How the supervisor works on `/equitr fix` (`models.strategy`, `equitr run --strategy`, the API's `strategy=`).
Strategy = Literal["auto", "plan", "tools"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
_MODEL_ALLOWED = "a model name `provider/model`, e.g. `ollama/qwen3:30b` or `openai/gpt-4.1-mini`"


class ModelsConfig(_Section):
    strategy: Strategy = _key(
        "auto",
        allowed="one of " + ", ".join(f'"{s}"' for s in STRATEGIES),
        doc="How the supervisor works on `/equitr fix`. `plan`: it writes a plan, equitr carries the steps out "
        "(what makes small models usable). `tools`: it calls search/file/run/git itself, one step at a time "
        "(models whose server calls tools natively). `auto`: `tools` when the supervisor's server calls tools "
        "natively (probed once, like structured output), else `plan`.",
    )
    supervisor: str | None = _key(
        allowed=_MODEL_ALLOWED,
        doc="Plans the change and checks the result. Unset: the server's `EQUITR_SUPERVISOR_MODEL`.",
    )
    worker: str | None = _key(
        allowed=_MODEL_ALLOWED,
        doc="Carries out the steps. Unset: the server's `EQUITR_WORKER_MODEL`, else the supervisor.",
    )
    fallback: str | None = _key(
        allowed=_MODEL_ALLOWED,
        doc="Used when the supervisor or worker model is unavailable (server down, quota used up).",
    )
    allowed: list[Annotated[str, AfterValidator(_check_allowed_entry)]] = _key(
        list,
        allowed="a list of model names; `provider/*` allows every model of a provider",
        doc="The models `--model` and `--worker-model` may pick. Empty: any valid model name.",
    )

    @field_validator("supervisor", "worker", "fallback")
    @classmethod
    def _valid_model(cls, value: str | None) -> str | None:
        return None if value is None else _check_model(value)


class BudgetConfig(_Section):
    per_job_usd: float = _usd(
        1.0,
        at_most=MAX_BUDGET_USD,
        doc="What one job may spend when the command has no `--budget`.",
    )
    per_month_usd: float = _usd(
        20.0,
        at_most=100_000,
        doc="What all jobs of this repository may spend in a calendar month (UTC); jobs are refused beyond it.",
    )
    max_flag_usd: float = _usd(
        5.0,
        at_most=MAX_BUDGET_USD,
        doc="The largest `--budget` a command may ask for.",
    )


class ReviewConfig(_Section):
    auto: bool = _key(True, allowed="true or false", doc="Review pull requests without being asked.")
    on: list[ReviewEvent] = _key(
        lambda: list(REVIEW_EVENTS),
        allowed="a list drawn from " + ", ".join(f'"{e}"' for e in REVIEW_EVENTS),
        doc="Which pull-request events start an automatic review (`synchronize` = new commits pushed).",
    )
    skip_drafts: bool = _key(True, allowed="true or false", doc="No automatic review of draft pull requests.")
    skip_bots: bool = _key(True, allowed="true or false", doc="No automatic review of pull requests opened by bots.")
    auto_forks: bool = _key(
        False,
        allowed="true or false",
        doc="Also review pull requests from forks automatically when their author lacks write permission "
        "(an outsider's pull request spends this repository's money). Off: a maintainer asks with `/equitr review`.",
    )
    forks_per_month_usd: float = _usd(
        5.0,
        at_most=100_000,
        doc="What automatic reviews of pull requests from forks may spend in a calendar month (UTC). It is "
        "their own budget, not counted in `budget.per_month_usd`, so they can never use up that of `/equitr fix`.",
    )
    max_files: int = _whole(
        50,
        1,
        1000,
        doc="Files reviewed per pull request; the summary names the ones skipped.",
    )
    max_patch_lines: int = _whole(
        1000,
        10,
        20_000,
        doc="Diff lines reviewed per file; longer diffs are clipped and the summary says so.",
    )


class FixConfig(_Section):
    draft_pr: bool = _key(True, allowed="true or false", doc="Open pull requests as drafts.")
    test_command: str = _key(
        "",
        max_length=1000,
        allowed="a command line, split as a shell would but run without one (no pipes, `&&` or `$VAR`), "
        'e.g. "pytest -q"; "" to detect it',
        doc='Run in the sandbox before and after the change. "": detected from the files present '
        "(pytest, python -m unittest for a plain unittest suite, npm test, go test, cargo test).",
    )
    setup_command: str = _key(
        "",
        max_length=1000,
        allowed='a shell command, e.g. "pip install -e .[test]"; "" for none',
        doc="Run once per job in the sandbox, with the network, before the first test run; what it installs "
        "goes into a private environment for the job's tests. Files it creates stay out of the change.",
    )
    blocked_paths: list[Annotated[str, AfterValidator(_check_glob)]] = _key(
        list,
        allowed='a list of gitignore patterns relative to the repository root, e.g. "secrets/**" or "*.pem"',
        doc="Paths the agent may never write (gitignore patterns), in addition to `.github/workflows/**` and the "
        "files CI runs (docs/security.md).",
    )
    allow_ci_paths: list[Annotated[str, AfterValidator(_check_allow_ci)]] = _key(
        list,
        allowed="a list of paths or patterns among the CI paths blocked by default (docs/security.md), "
        'e.g. "conftest.py"',
        doc="Files CI runs that the agent may write after all, e.g. `conftest.py` or `.github/dependabot.yml`. "
        "`.github/workflows/**` cannot be allowed.",
    )

    @property
    def all_blocked_paths(self) -> tuple[str, ...]:
        return ALWAYS_BLOCKED + tuple(p for p in self.blocked_paths if p not in ALWAYS_BLOCKED)


class TriggerConfig(_Section):
    label: str = _key(
        "equitr",
        min_length=1,
        max_length=50,  # GitHub's limit for label names
        allowed="a label name of 1 to 50 characters",
        doc="Adding this label to an issue works like commenting `/equitr fix`.",
    )


class LimitsConfig(_Section):
    max_steps: int = _whole(40, 1, 500, doc="Tool steps per job.")
    max_iterations: int = _whole(
        3,
        1,
        20,
        doc="Rounds of supervisor review and rework per job.",
    )
    max_minutes: float = _key(
        30.0, gt=0, le=360, allowed="a number of minutes more than 0 and at most 360", doc="Wall time per job."
    )
    max_output_tokens: int | None = _whole(
        None,
        64,
        200_000,
        unit="tokens",
        doc="The longest reply of one model call. Unset: from the model (reasoning models such as o3, gpt-5 "
        "or qwen3 get room to think; small local models little). A reply cut off at its limit is asked again "
        "once with twice the room.",
    )
    max_disk_mb: int = _whole(
        2048,
        64,
        65536,
        unit="MiB",
        doc="What the tests and the setup command may add to the job's checkout and environment; a job over it "
        "stops (docs/sandbox.md).",
    )


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_CRON_WORDS = re.compile(r"^[A-Za-z]{3}(-[A-Za-z]{3})?(,[A-Za-z]{3}(-[A-Za-z]{3})?)*$")  # JAN, MON-FRI


class TaskConfig(_Section):
    name: str = _key(
        ...,
        min_length=1,
        max_length=100,
        allowed="a short name, unique among the tasks",
        doc="Shown in the run summary.",
    )
    prompt: str = _key(
        ..., min_length=1, max_length=20_000, allowed="the task as text", doc="What the agent is asked to do."
    )
    cron: str | None = _key(
        allowed='a five-field cron expression, e.g. "0 6 * * 1"',
        doc="Run only on scheduled runs started by this exact `schedule:` cron of the workflow. "
        "Unset: on every scheduled run.",
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) or _CRON_WORDS.match(f) for f in fields):
            raise PydanticCustomError("cron", "{cron} is not a cron expression", {"cron": value})
        return " ".join(fields)


class ScheduleConfig(_Section):
    max_issues_per_run: int = _whole(
        5,
        0,
        100,
        doc="Open issues with the trigger label (and no equitr pull request yet) worked on per scheduled run.",
    )
    budget_usd: float = _usd(
        5.0,
        at_most=MAX_BUDGET_USD,
        doc="What one scheduled run may spend on all its issues and tasks together.",
    )
    tasks: list[TaskConfig] = _key(
        list,
        allowed="a list of [[schedule.tasks]] tables with name, prompt and optionally cron",
        doc="Prompts run on a schedule, each like an `/equitr fix` without an issue.",
    )


class RepoConfig(_Section):
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    fix: FixConfig = Field(default_factory=FixConfig)
    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


# -- parsing ----------------------------------------------------------------------------------------------


def load_default() -> RepoConfig:
    """The configuration of a repository without `.equitr.toml`."""
    return RepoConfig()


def parse(text: str) -> RepoConfig:
    """Parse and validate the text of `.equitr.toml`; RepoConfigError names every problem."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise RepoConfigError([Problem("", f"the file is larger than {MAX_BYTES // 1024} KiB")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RepoConfigError([syntax_problem(exc, text)]) from None
    try:
        config = RepoConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RepoConfigError(validation_problems(exc, RepoConfig)) from None
    problems = _cross_checks(config)
    if problems:
        raise RepoConfigError(problems)
    return config


def _bound(
    budget: BudgetConfig, key: str, side: Literal["at least", "at most"], other: str, why: str
) -> Problem | None:
    """The problem when `budget.<key>` is not `side` `budget.<other>`, `why` saying what would go wrong."""
    value, limit = getattr(budget, key), getattr(budget, other)
    if (value >= limit) if side == "at least" else (value <= limit):
        return None
    return Problem(
        f"budget.{key}",
        f"is {'below' if side == 'at least' else 'above'} `budget.{other}` ({limit:g}), {why}",
        value=toml_value(value),
        allowed=f"a number {side} `budget.{other}` ({limit:g})",
    )


def _cross_checks(config: RepoConfig) -> list[Problem]:
    budget = config.budget
    problems = [
        p
        for p in (
            _bound(budget, "max_flag_usd", "at least", "per_job_usd", "so a `--budget` could only lower it"),
            _bound(budget, "per_job_usd", "at most", "per_month_usd", "so no job could ever use it"),
        )
        if p is not None
    ]
    seen: set[str] = set()
    for index, task in enumerate(config.schedule.tasks):
        if task.name in seen:
            problems.append(
                Problem(
                    f"schedule.tasks[{index}].name",
                    "is used by an earlier task",
                    value=toml_value(task.name),
                    allowed="a name unique among the tasks",
                )
            )
        seen.add(task.name)
    return problems

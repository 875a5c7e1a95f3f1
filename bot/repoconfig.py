"""`.equitr.toml`: a repository's own settings for equitr, validated, with documented defaults.

    [models]    strategy, supervisor, worker, fallback, allowed
    [budget]    per_job_usd, per_month_usd, max_flag_usd
    [review]    auto, on, skip_drafts, skip_bots, auto_forks, forks_per_month_usd, max_files, max_patch_lines
    [fix]       draft_pr, test_command, setup_command, blocked_paths
    [trigger]   label
    [limits]    max_steps, max_iterations, max_minutes, max_output_tokens
    [schedule]  max_issues_per_run, budget_usd, [[schedule.tasks]] name, prompt, cron

Every key is optional; a missing file means all defaults. A bad file never half-applies: `parse` either
returns a whole `RepoConfig` or raises `RepoConfigError` listing *every* problem, each naming its dotted key,
the value found and what is allowed (for an unknown key, the closest valid one). The reference with all
defaults is docs/configuration.md; `reference_rows()` is the source it is checked against.

The file is read from the default branch only (see `fetch_config`), and command flags are bounded by it
(`resolve_flags`).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import quote

import gidgethub
import pydantic
from gidgethub.abc import GitHubAPI
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError
from rapidfuzz import fuzz, process

from equitr.agent.ledger import Limits
from equitr.commands import MAX_BUDGET_USD
from equitr.errors import BudgetExceeded, ConfigError, GitHubError, ValidationError
from equitr.github.retry import rate_limited
from equitr.models.manager import ModelManager
from equitr.models.names import PROVIDERS
from equitr.redact import redact
from equitr.sandbox.policy import ALWAYS_BLOCKED, CI_PATHS, WritePolicy, matches
from equitr.sandbox.workspace import BRANCH_PREFIX

FILENAME = ".equitr.toml"
MAX_BYTES = 256 * 1024  # a configuration file, not a data file; also bounds what a parse can cost
ReviewEvent = Literal["opened", "ready_for_review", "synchronize"]
REVIEW_EVENTS: tuple[ReviewEvent, ...] = ("opened", "ready_for_review", "synchronize")

# Keys people look for that are deliberately not configurable, with the reason shown instead of "unknown key".
FIXED_KEYS: dict[str, str] = {
    # The branch prefix is a safety boundary, not a preference: the push guard only ever pushes `equitr/…`
    # branches (so the agent's token can never move `main` or a person's branch), branch protection rules
    # can target `equitr/*`, and a re-run finds its branch `equitr/issue-N` again instead of opening a second.
    "fix.branch_prefix": f"equitr always works on branches named `{BRANCH_PREFIX}…` (e.g. `{BRANCH_PREFIX}issue-12`); "
    "the prefix is a safety boundary and cannot be changed",
}


def _key(default: Any = None, *, allowed: str, doc: str, **constraints: Any) -> Any:
    """A documented key: `allowed` is shown in errors and in the reference, `doc` in the reference."""
    extra: JsonDict = {"allowed": allowed}
    if callable(default):
        return Field(default_factory=default, description=doc, json_schema_extra=extra, **constraints)
    return Field(default, description=doc, json_schema_extra=extra, **constraints)


class _Section(BaseModel):
    # strict: a TOML file has real types, so `auto = "no"` or `max_steps = "40"` is a mistake worth naming.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_model(name: str) -> str:
    try:
        return str(_models().validate_model(name))
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


_MODEL_ALLOWED = "a model name `provider/model`, e.g. `ollama/qwen3:30b` or `openai/gpt-4.1-mini`"


class ModelsConfig(_Section):
    strategy: Literal["auto", "plan", "tools"] = _key(
        "auto",
        allowed='one of "auto", "plan", "tools"',
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
    per_job_usd: float = _key(
        1.0,
        gt=0,
        le=MAX_BUDGET_USD,
        allowed=f"a number of US dollars more than 0 and at most {MAX_BUDGET_USD:g}",
        doc="What one job may spend when the command has no `--budget`.",
    )
    per_month_usd: float = _key(
        20.0,
        gt=0,
        le=100_000,
        allowed="a number of US dollars more than 0 and at most 100000",
        doc="What all jobs of this repository may spend in a calendar month (UTC); jobs are refused beyond it.",
    )
    max_flag_usd: float = _key(
        5.0,
        gt=0,
        le=MAX_BUDGET_USD,
        allowed=f"a number of US dollars more than 0 and at most {MAX_BUDGET_USD:g}",
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
    forks_per_month_usd: float = _key(
        5.0,
        gt=0,
        le=100_000,
        allowed="a number of US dollars more than 0 and at most 100000",
        doc="What automatic reviews of pull requests from forks may spend in a calendar month (UTC). It is "
        "their own budget, not counted in `budget.per_month_usd`, so they can never use up that of `/equitr fix`.",
    )
    max_files: int = _key(
        50,
        ge=1,
        le=1000,
        allowed="a whole number between 1 and 1000",
        doc="Files reviewed per pull request; the summary names the ones skipped.",
    )
    max_patch_lines: int = _key(
        1000,
        ge=10,
        le=20_000,
        allowed="a whole number between 10 and 20000",
        doc="Diff lines reviewed per file; longer diffs are clipped and the summary says so.",
    )


class FixConfig(_Section):
    draft_pr: bool = _key(True, allowed="true or false", doc="Open pull requests as drafts.")
    test_command: str = _key(
        "",
        max_length=1000,
        allowed='a command line, split as a shell would but run without one (no pipes, `&&` or `$VAR`), '
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
    max_steps: int = _key(40, ge=1, le=500, allowed="a whole number between 1 and 500", doc="Tool steps per job.")
    max_iterations: int = _key(
        3,
        ge=1,
        le=20,
        allowed="a whole number between 1 and 20",
        doc="Rounds of supervisor review and rework per job.",
    )
    max_minutes: float = _key(
        30.0, gt=0, le=360, allowed="a number of minutes more than 0 and at most 360", doc="Wall time per job."
    )
    max_output_tokens: int | None = _key(
        ge=64,
        le=200_000,
        allowed="a whole number of tokens between 64 and 200000",
        doc="The longest reply of one model call. Unset: from the model (reasoning models such as o3, gpt-5 "
        "or qwen3 get room to think; small local models little). A reply cut off at its limit is asked again "
        "once with twice the room.",
    )
    max_disk_mb: int = _key(
        2048,
        ge=64,
        le=65536,
        allowed="a whole number of MiB between 64 and 65536",
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
    max_issues_per_run: int = _key(
        5,
        ge=0,
        le=100,
        allowed="a whole number between 0 and 100",
        doc="Open issues with the trigger label (and no equitr pull request yet) worked on per scheduled run.",
    )
    budget_usd: float = _key(
        5.0,
        gt=0,
        le=MAX_BUDGET_USD,
        allowed=f"a number of US dollars more than 0 and at most {MAX_BUDGET_USD:g}",
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


# -- errors -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file. `key` is dotted (`budget.per_job_usd`, `schedule.tasks[0].name`);
    empty for file-level problems such as a TOML syntax error."""

    key: str
    message: str  # what is wrong, one sentence without the key
    value: str | None = None  # the value found, rendered as TOML, shortened
    allowed: str | None = None  # what would be accepted
    closest: str | None = None  # for an unknown key: the valid key it most likely meant
    suggestion: str | None = None  # e.g. the closest valid model names
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"`{self.key}`" if self.key else FILENAME
        if self.line is not None:
            where += f" (line {self.line}" + (f", column {self.column})" if self.column is not None else ")")
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (found `{self.value}`)"
        text += "."
        if self.closest:
            text += f" Did you mean `{self.closest}`?"
        if self.suggestion:
            text += " " + self.suggestion.rstrip() + ("" if self.suggestion.rstrip().endswith((".", "?")) else ".")
        if self.allowed:
            text += f" Allowed: {self.allowed.rstrip('.')}."
        return text


class RepoConfigError(ConfigError):
    """`.equitr.toml` cannot be used; `problems` lists every reason, each naming its key."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = f"{FILENAME} has {count} problem{'s' if count != 1 else ''}"
        super().__init__(
            summary + ": " + " ".join(str(p) for p in self.problems),
            hint=f"Fix {FILENAME} on the default branch; docs/configuration.md lists every key and its default.",
        )


class MonthlyBudgetExceeded(BudgetExceeded):
    """The repository's budget for this month is used up (`budget.per_month_usd`)."""


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
        raise RepoConfigError([_syntax_problem(exc, text)]) from None
    try:
        config = RepoConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        raise RepoConfigError([_problem(err) for err in exc.errors()]) from None
    problems = _cross_checks(config)
    if problems:
        raise RepoConfigError(problems)
    return config


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    # Python 3.11/3.12 only put the position in the message: "Invalid value (at line 3, column 15)".
    message = str(exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line, column = int(found.group(1)), int(found.group(2))
        message = message[: found.start()]
    elif message.endswith("(at end of document)"):
        message = message.removesuffix("(at end of document)").rstrip() + " at the end of the file"
        line = text.count("\n") + 1
    source = text.splitlines()[line - 1] if line and 0 < line <= len(text.splitlines()) else None
    return Problem(
        "",
        f"TOML syntax error: {message[:1].lower()}{message[1:]}",
        value=_shorten(source.strip()) if source and source.strip() else None,
        line=line,
        column=column,
    )


def _problem(err: Mapping[str, Any]) -> Problem:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    key = _dotted(loc)
    kind = str(err["type"])
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    value = _shorten(_toml(err["input"])) if kind != "missing" else None
    if kind == "extra_forbidden":
        section_keys = _section_keys(loc[:-1])
        if key in FIXED_KEYS:
            return Problem(key, FIXED_KEYS[key] + "; remove this key", value=value)
        where = _dotted(loc[:-1])
        closest = _closest(str(loc[-1]), section_keys)
        valid = ", ".join(section_keys)
        what = f"sections are {valid}" if not where else f"keys in [{where}] are {valid}"
        return Problem(
            key,
            "is not a section equitr knows" if not where else "is not a key equitr knows",
            value=None if not where else value,
            closest=(f"{where}.{closest}" if where and closest else closest),
            allowed=f"the {what}",
        )
    field = _field_info(loc)
    allowed = None
    if field is not None and isinstance(field.json_schema_extra, dict):
        allowed = str(field.json_schema_extra.get("allowed"))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return Problem(key, "must be a table", value=value, allowed=f"a [{key}] table" if "[" not in key else None)
    if kind == "missing":
        return Problem(key, "is required", allowed=allowed)
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", '"')
        return Problem(
            key, "is not one of the choices", value=value, allowed=f"one of {choices}" if choices else allowed
        )
    if kind == "model_name":
        unknown = str(ctx.get("message", "")).startswith("Unknown")
        message = "is not a model equitr knows" if unknown else "is not a valid model name"
        return Problem(key, message, value=value, suggestion=str(ctx.get("hint") or "") or None, allowed=allowed)
    if kind == "path_pattern":
        return Problem(key, str(ctx.get("message", "is not valid")), value=value, allowed=allowed)
    if kind == "path_glob":
        return Problem(key, "is not a pattern relative to the repository root", value=value, allowed=allowed)
    if kind == "cron":
        return Problem(key, "is not a cron expression", value=value, allowed=allowed)
    return Problem(key, _what_is_wrong(kind), value=value, allowed=allowed)


def _what_is_wrong(kind: str) -> str:
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "has the wrong type"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return "is out of range"
    if kind in ("string_too_short", "too_short"):
        return "is too short"
    if kind in ("string_too_long", "too_long"):
        return "is too long"
    if kind == "finite_number":
        return "is not a finite number"
    return "is not valid"


def _cross_checks(config: RepoConfig) -> list[Problem]:
    problems: list[Problem] = []
    budget = config.budget
    if budget.max_flag_usd < budget.per_job_usd:
        problems.append(
            Problem(
                "budget.max_flag_usd",
                f"is below `budget.per_job_usd` ({budget.per_job_usd:g}), so a `--budget` could only lower it",
                value=_toml(budget.max_flag_usd),
                allowed=f"a number at least `budget.per_job_usd` ({budget.per_job_usd:g})",
            )
        )
    if budget.per_job_usd > budget.per_month_usd:
        problems.append(
            Problem(
                "budget.per_job_usd",
                f"is above `budget.per_month_usd` ({budget.per_month_usd:g}), so no job could ever use it",
                value=_toml(budget.per_job_usd),
                allowed=f"a number at most `budget.per_month_usd` ({budget.per_month_usd:g})",
            )
        )
    seen: set[str] = set()
    for index, task in enumerate(config.schedule.tasks):
        if task.name in seen:
            problems.append(
                Problem(
                    f"schedule.tasks[{index}].name",
                    "is used by an earlier task",
                    value=_toml(task.name),
                    allowed="a name unique among the tasks",
                )
            )
        seen.add(task.name)
    return problems


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(loc: Sequence[str | int]) -> tuple[type[BaseModel] | None, Any]:
    """The model class reached by `loc` from RepoConfig, and the last field info on the way."""
    model: type[BaseModel] | None = RepoConfig
    field: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None, None
        field = model.model_fields[part]
        model = _model_in(field.annotation)
    return model, field


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _field_info(loc: Sequence[str | int]) -> Any:
    return _walk(loc)[1]


def _section_keys(loc: Sequence[str | int]) -> list[str]:
    model = _walk(loc)[0]
    return list(model.model_fields) if model is not None else []


def _closest(word: str, choices: Sequence[str]) -> str | None:
    found = process.extractOne(word, list(choices), scorer=fuzz.WRatio, score_cutoff=60)
    return found[0] if found else None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _shorten(text: str, limit: int = 80) -> str:
    # Redact before cutting: a secret cut in half no longer matches its exact value or its pattern.
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@cache
def _models() -> ModelManager:
    return ModelManager()


# -- the reference ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    key: str  # dotted
    default: str  # rendered as TOML, or "(unset)"/"(required)"
    allowed: str
    doc: str


def reference_rows() -> list[ReferenceRow]:
    """Every key with its default, what is allowed and what it does (docs/configuration.md is checked
    against this)."""
    rows: list[ReferenceRow] = []

    def visit(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            sub = _model_in(field.annotation)
            if sub is not None and sub is not TaskConfig:
                visit(sub, key + ".")
                continue
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if field.is_required():
                default = "(required)"
            elif field.default_factory is not None:
                default = _toml(field.default_factory())  # type: ignore[call-arg]
            else:
                default = "(unset)" if field.default is None else _toml(field.default)
            rows.append(ReferenceRow(key, default, str(extra.get("allowed", "")), field.description or ""))
            if sub is TaskConfig:
                visit(sub, key + "[].")

    visit(RepoConfig, "")
    return rows


# -- flags ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What one job runs with: the repository's configuration with the command's flags applied."""

    budget_usd: float
    supervisor_model: str | None  # None: the server's default
    worker_model: str | None
    fallback_model: str | None
    test_command: str
    setup_command: str
    draft_pr: bool
    blocked_paths: tuple[str, ...]
    max_steps: int
    max_iterations: int
    max_minutes: float
    max_output_tokens: int | None = None
    strategy: Literal["auto", "plan", "tools"] = "auto"
    allow_ci_paths: tuple[str, ...] = ()
    max_disk_mb: int = 2048

    def write_policy(self) -> WritePolicy:
        return WritePolicy(blocked=self.blocked_paths, allow_ci=self.allow_ci_paths)

    def limits(self) -> Limits:
        return Limits(
            max_steps=self.max_steps,
            max_iterations=self.max_iterations,
            max_wall_s=self.max_minutes * 60,
            budget_usd=self.budget_usd,
        )


def resolve_flags(
    config: RepoConfig,
    *,
    budget_usd: float | None,
    model: str | None,
    worker_model: str | None,
    month_spent_usd: float = 0.0,
) -> EffectiveSettings:
    """Apply `--budget`, `--model` (the supervisor) and `--worker-model`, bounded by the configuration.

    A flag outside the bounds is refused (ValidationError naming the limit and the key that raises it),
    never silently clipped: the person asked for something specific. An unknown model name raises
    ConfigError with the closest valid names. With `month_spent_usd`, the job's budget is capped at what
    is left of `budget.per_month_usd`, and a month with nothing left raises MonthlyBudgetExceeded.
    """
    limit = config.budget.max_flag_usd
    if budget_usd is not None and budget_usd > limit:
        raise ValidationError(
            f"`--budget {budget_usd:.2f}` is above this repository's maximum of ${limit:.2f} per job.",
            hint=f"Use `--budget {limit:.2f}` or less; a maintainer can raise `budget.max_flag_usd` in "
            f"`{FILENAME}` on the default branch.",
        )
    budget = budget_usd if budget_usd is not None else config.budget.per_job_usd
    left = config.budget.per_month_usd - month_spent_usd
    if left <= 0:
        raise MonthlyBudgetExceeded(
            f"This repository's budget of ${config.budget.per_month_usd:.2f} for the month is used up "
            f"(${month_spent_usd:.2f} spent).",
            spent_usd=month_spent_usd,
            budget_usd=config.budget.per_month_usd,
            hint=f"A maintainer can raise `budget.per_month_usd` in `{FILENAME}`; the budget renews on the 1st.",
        )
    budget = min(budget, left)
    models = config.models
    return EffectiveSettings(
        budget_usd=budget,
        supervisor_model=_flag_model("--model", model, models.allowed) if model else models.supervisor,
        worker_model=_flag_model("--worker-model", worker_model, models.allowed) if worker_model else models.worker,
        fallback_model=models.fallback,
        test_command=config.fix.test_command,
        setup_command=config.fix.setup_command,
        draft_pr=config.fix.draft_pr,
        blocked_paths=config.fix.all_blocked_paths,
        max_steps=config.limits.max_steps,
        max_iterations=config.limits.max_iterations,
        max_minutes=config.limits.max_minutes,
        max_output_tokens=config.limits.max_output_tokens,
        strategy=models.strategy,
        allow_ci_paths=tuple(config.fix.allow_ci_paths),
        max_disk_mb=config.limits.max_disk_mb,
    )


def model_allowed(name: str, allowed: Sequence[str]) -> bool:
    """Whether `name` (already normalised) is in `models.allowed`; an empty list allows every name."""
    return not allowed or any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed)


def _flag_model(flag: str, name: str, allowed: Sequence[str]) -> str:
    normalised = str(_models().validate_model(name))  # ConfigError with the closest names
    if not model_allowed(normalised, allowed):
        raise ValidationError(
            f"`{flag} {name}` is not one of the models this repository allows.",
            hint="Allowed: " + ", ".join(f"`{a}`" for a in allowed) + f" (`models.allowed` in `{FILENAME}`).",
        )
    return normalised


# -- reading it from GitHub -------------------------------------------------------------------------------


async def fetch_config(gh: GitHubAPI, repo: str, default_branch: str) -> RepoConfig:
    """Read and validate `.equitr.toml` of `repo` ("owner/name") from its **default branch**; defaults when
    there is none.

    Never from the branch being worked on: a pull request (perhaps from a fork, perhaps written by the agent
    itself) could otherwise raise its own budget, unblock paths, pick a model or change scheduled prompts.
    The default branch is what maintainers have already reviewed and merged, so it is the only trusted source.
    """
    url = f"/repos/{repo}/contents/{FILENAME}?ref={quote(default_branch, safe='')}"
    try:
        data = await gh.getitem(url)
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return load_default()
        if rate_limited(exc):  # a wait, not a missing permission: say so, with the reset time
            raise
        raise GitHubError(
            f"Could not read {FILENAME} of {repo} (HTTP {int(exc.status_code)}).",
            status=int(exc.status_code),
            hint="The App needs the `Contents: read` permission on this repository.",
        ) from None
    return parse(_decode(data))


class ConfigCache:
    """`.equitr.toml` per repository, kept for `ttl_s`: the webhook path reads it to tell the repository's
    trigger label from other labels, and a burst of label events should not mean a burst of reads."""

    def __init__(self, *, ttl_s: float = 60.0, maxsize: int = 1024) -> None:
        from cachetools import TTLCache

        self._cache: TTLCache[str, RepoConfig] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    async def get(self, gh: GitHubAPI, repo: str, default_branch: str) -> RepoConfig:
        key = repo.lower()
        found = self._cache.get(key)
        if found is None:
            found = await fetch_config(gh, repo, default_branch)
            self._cache[key] = found
        return found


def _decode(data: Any) -> str:
    if not isinstance(data, dict) or data.get("type") != "file":
        raise RepoConfigError([Problem("", "is not a file at the repository root")])
    if data.get("encoding") != "base64" or not isinstance(data.get("content"), str):
        # The contents API sends no content for files over 1 MB.
        raise RepoConfigError([Problem("", f"the file is larger than {MAX_BYTES // 1024} KiB")])
    try:
        raw = base64.b64decode(data["content"], validate=False)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise RepoConfigError([Problem("", "is not UTF-8 text")]) from None


__all__ = [
    "ALWAYS_BLOCKED",
    "FILENAME",
    "ConfigCache",
    "EffectiveSettings",
    "MonthlyBudgetExceeded",
    "Problem",
    "RepoConfig",
    "RepoConfigError",
    "fetch_config",
    "load_default",
    "model_allowed",
    "parse",
    "reference_rows",
    "resolve_flags",
]

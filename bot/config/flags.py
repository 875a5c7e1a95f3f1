"""What one job runs with: the repository's configuration with the command's flags applied.

`resolve_flags` bounds `--budget`, `--model` and `--worker-model` by `.equitr.toml`; `EffectiveSettings`
carries the result, and builds the agent's `Limits` and the sandbox's `WritePolicy` from it. `Limits` is
defined here, below the agent, so that configuration never imports the agent.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import time
from collections.abc import Sequence
from dataclasses import dataclass

from equitr.config.problems import FILENAME
from equitr.config.repo import RepoConfig, Strategy
from equitr.errors import ConfigError, MonthlyBudgetExceeded, ValidationError
from equitr.models.prices import validate_model
from equitr.sandbox.policy import WritePolicy


@dataclass(frozen=True, slots=True)
class Limits:
    """What one agent run may use: tool steps, review rounds, wall time, money, and tool calls at once."""

    max_steps: int = 40
    max_iterations: int = 3
    max_wall_s: float = 1800.0
    budget_usd: float = 1.0
    max_parallel: int = 2


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
    strategy: Strategy = "auto"
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


def month_start(now: float | None = None) -> float:
    """When the month of `now` (default: now) began in UTC: the window of `budget.per_month_usd`, which renews
    on the 1st."""
    at = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


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
            flag="--budget",
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
    try:
        normalised = str(validate_model(name))  # ConfigError with the closest names
    except ConfigError as exc:
        exc.flag = flag  # so that the error comment's retry replaces this flag's value
        raise
    if not model_allowed(normalised, allowed):
        raise ValidationError(
            f"`{flag} {name}` is not one of the models this repository allows.",
            hint="Allowed: " + ", ".join(f"`{a}`" for a in allowed) + f" (`models.allowed` in `{FILENAME}`).",
            flag=flag,
        )
    return normalised

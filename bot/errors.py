"""The exception tree of equitr, in one place.

Every error a user can meet carries a message written for that user (and, where it helps, a hint with
what to do about it). Tracebacks never leave the process: comments, logs and the CLI show `str(error)`.

    EquitrError
    ├── ConfigError            settings, `.equitr.toml`, unknown model names
    ├── ValidationError        bad command, bad tool parameters, permission denied, budget exceeded
    │   ├── CommandError
    │   ├── MalformedPayload   a signed webhook payload with a field of the wrong type (HTTP 400)
    │   ├── PermissionDenied
    │   ├── BudgetExceeded
    │   └── JobBusy            another job is already changing this issue
    ├── LimitReached           a run limit: steps, iterations, time, disk (`limit` says which)
    ├── RuntimeFailure         rate limits, network, model unavailable, timeouts
    │   ├── GitHubError
    │   ├── ModelError
    │   └── StoreLost          the job store lost its data while equitr ran (Redis restarted empty)
    ├── SandboxError           path guard refusals, sandbox unavailable, command limits
    │   └── PathRefused
    ├── ToolError              a tool call failed; the message is shown to the model so it can correct itself
    └── DryRunStop             `equitr replay --dry-run` reached real work (a clone, a model call): the job ends
                               `done` there, having printed every GitHub call it made so far
"""

from __future__ import annotations


class EquitrError(Exception):
    """Base class. `hint` says what the user can do about it, when we know."""

    category = "runtime"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(EquitrError):
    category = "configuration"


class ValidationError(EquitrError):
    category = "validation"


class CommandError(ValidationError):
    pass


class MalformedPayload(ValidationError):
    """A webhook payload field has a type GitHub never sends; `message` names the field."""


class PermissionDenied(ValidationError):
    pass


class BudgetExceeded(ValidationError):
    def __init__(self, message: str, *, spent_usd: float, budget_usd: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd


class JobBusy(ValidationError):
    """A job that changes an issue was refused because another one is already working on it."""

    def __init__(self, message: str, *, running_id: int, running_kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.running_id = running_id
        self.running_kind = running_kind


class RuntimeFailure(EquitrError):
    category = "runtime"


class GitHubError(RuntimeFailure):
    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ModelError(RuntimeFailure):
    """A model call failed. `retryable` tells the caller whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        hint: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retryable = retryable
        # What the server asked us to wait (HTTP `retry-after`) before trying again, when it said.
        self.retry_after_s = retry_after_s


class StoreLost(RuntimeFailure):
    pass
class LimitReached(EquitrError):
    """A run limit other than the budget (steps, iterations, time, disk). `limit` names which."""

    category = "validation"

    def __init__(self, message: str, *, limit: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.limit = limit


class SandboxError(EquitrError):
    category = "validation"


class PathRefused(SandboxError):
    pass


class ToolError(EquitrError):
    """A tool could not do what it was asked; the message goes back to the model verbatim."""

    category = "validation"


class DryRunStop(EquitrError):
    """A dry run went as far as it can without side effects outside GitHub's (printed) API."""

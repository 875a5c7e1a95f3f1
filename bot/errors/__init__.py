"""The exception tree of equitr, in one place.

Every error a user can meet carries a message written for that user (and, where it helps, a hint with
what to do about it). Tracebacks never leave the process: comments, logs and the CLI show `str(error)`.

    EquitrError                  kind: the docs/errors.md anchor; closest: "did you mean" names; flag
    ├── ConfigError              settings, unknown model names
    │   └── RepoConfigError      `.equitr.toml` cannot be used (`problems` lists every reason)
    ├── ValidationError          bad command, bad tool parameters, budget exceeded
    │   ├── CommandError
    │   ├── MalformedPayload     a signed webhook payload with a field of the wrong type (HTTP 400)
    │   ├── TooLarge             a webhook body over the size limit (HTTP 413)
    │   ├── PlanError            a task graph that cannot be run as written
    │   ├── BudgetExceeded
    │   │   └── MonthlyBudgetExceeded   the repository's `budget.per_month_usd` is used up
    │   └── JobBusy              another job is already changing this issue
    ├── LimitReached             a run limit: steps, iterations, time, disk (`limit` says which)
    ├── RuntimeFailure           rate limits, network, model unavailable, timeouts
    │   ├── GitHubError          any failed GitHub API call; `.status` is the HTTP status (None: unreachable)
    │   │   └── Parked           a rate limit better waited out with the job back in the queue
    │   ├── ModelError
    │   └── StoreLost            the job store lost its data while equitr ran (Redis restarted empty)
    ├── SandboxError             path guard refusals, sandbox unavailable, command limits
    │   └── PathRefused
    ├── ToolError                a tool call failed; the message is shown to the model so it can correct itself
    │   └── EditFormatError      a model's edit blocks cannot be parsed
    └── DryRunStop               `equitr replay --dry-run` reached real work (a clone, a model call): the job ends
                                 `done` there, having printed every GitHub call it made so far

Outside the tree, because they never reach a user's comment (each is caught next to where it is raised):

    BadMessage(ValueError)       a queue message equitr did not write
    BadFilter(ValueError)        a dashboard filter that cannot be read
    SignInFailed(Exception)      the dashboard's GitHub sign-in did not complete

`kind` is decided where the error is raised, by the code that knows what happened; `equitr.errors.render` turns it
into advice without reading the message. `closest` and `flag` are facts for that advice: the names the user
most likely meant, and the command flag that carried the wrong value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from rapidfuzz import fuzz, process


class EquitrError(Exception):
    """Base class. `hint` says what the user can do about it, when we know."""

    category = "runtime"
    kind = "job-failed"  # the class's anchor in docs/errors.md; an instance may say something more precise

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        kind: str | None = None,
        closest: Sequence[str] = (),
        flag: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind
        self.closest = list(closest)
        self.flag = flag


class ConfigError(EquitrError):
    category = "configuration"
    kind = "configuration-error"


class RepoConfigError(ConfigError):
    """`.equitr.toml` cannot be used; `problems` lists every reason (`equitr.config.problems.Problem`), each naming
    its key."""

    kind = "invalid-configuration-file"

    def __init__(self, problems: Sequence[object]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = f".equitr.toml has {count} problem{'s' if count != 1 else ''}"
        super().__init__(
            summary + ": " + " ".join(str(p) for p in self.problems),
            hint="Fix .equitr.toml on the default branch; docs/configuration.md lists every key and its default.",
        )


class ValidationError(EquitrError):
    category = "validation"
    kind = "invalid-parameters"


class CommandError(ValidationError):
    kind = "invalid-command"


class MalformedPayload(ValidationError):
    """A webhook payload field has a type GitHub never sends; `message` names the field."""


class TooLarge(ValidationError):
    """A webhook body larger than `limit` bytes: refused with HTTP 413 before it is read in full."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"payload larger than {limit} bytes")
        self.limit = limit


class PlanError(ValidationError):
    """A plan that cannot be run as written (strict mode), with the reason."""


class BudgetExceeded(ValidationError):
    kind = "budget-exceeded"

    def __init__(self, message: str, *, spent_usd: float, budget_usd: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd


class MonthlyBudgetExceeded(BudgetExceeded):
    """The repository's budget for this month is used up (`budget.per_month_usd`)."""

    kind = "monthly-budget-used-up"


class JobBusy(ValidationError):
    """A job that changes an issue was refused because another one is already working on it."""

    kind = "already-running"

    def __init__(self, message: str, *, running_id: int, running_kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.running_id = running_id
        self.running_kind = running_kind


class RuntimeFailure(EquitrError):
    category = "runtime"


class GitHubError(RuntimeFailure):
    """A GitHub API call failed after equitr's retries. `status` is the HTTP status (None when GitHub could not
    be reached); `kind` is `rate-limited`, `network-error` or `github-error`."""

    kind = "github-error"

    def __init__(
        self, message: str, *, status: int | None = None, hint: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.status = status


class Parked(GitHubError):
    """A rate limit to wait out that is better waited out with the job back in the queue (`PARK_AFTER_S`)."""

    def __init__(self, message: str, *, status: int, until: float) -> None:
        super().__init__(
            message, status=status, hint="equitr runs the job again when GitHub's limit resets", kind="rate-limited"
        )
        self.until = until


def _model_kind(status: int | None) -> str:
    """The kind of a failed model call from its HTTP status, when the raiser did not say."""
    if status == 429:
        return "rate-limited"
    if status in (401, 403):
        return "model-credentials"
    if status == 408:
        return "timeout"
    if status == 404:
        return "model-not-found"  # no such model on that server (Ollama: not pulled), or a wrong base URL
    if status is not None and 400 <= status < 500:
        return "model-request-rejected"  # 400, 413, 422 …: what equitr sent, not whether the server is up
    return "model-unavailable"  # cannot reach the server, 5xx, overloaded


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
        kind: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, kind=kind or _model_kind(status))
        self.status = status
        self.retryable = retryable
        # What the server asked us to wait (HTTP `retry-after`) before trying again, when it said.
        self.retry_after_s = retry_after_s


class StoreLost(RuntimeFailure):
    pass


class LimitReached(EquitrError):
    """A run limit other than the budget (steps, iterations, time, disk). `limit` names which."""

    category = "validation"
    kind = "limit-reached"

    def __init__(self, message: str, *, limit: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.limit = limit


class SandboxError(EquitrError):
    category = "validation"
    kind = "refused-by-the-sandbox"


class PathRefused(SandboxError):
    pass


class ToolError(EquitrError):
    """A tool could not do what it was asked; the message goes back to the model verbatim."""

    category = "validation"
    kind = "invalid-parameters"


class EditFormatError(ToolError):
    pass


class DryRunStop(EquitrError):
    """A dry run went as far as it can without side effects outside GitHub's (printed) API."""


class BadMessage(ValueError):
    """A queue message equitr did not write: dropped, never run."""


class BadFilter(ValueError):
    """A filter the user typed that cannot be read; the message says which and how."""


class SignInFailed(Exception):
    """GitHub did not complete the sign-in; the message is safe to show."""


# -- "did you mean" ------------------------------------------------------------------------------------------


def closest(
    word: str, choices: Iterable[str], *, cutoff: float, limit: int = 1, scorer: Literal["wratio", "ratio"] = "wratio"
) -> list[str]:
    """The choices most similar to `word` scoring at least `cutoff` (0–100), best first: the one fuzzy match
    behind every "did you mean" (commands, flags, model names, `.equitr.toml` keys, tool-name aliases).
    `wratio` forgives word order and partial matches; `ratio` is the plain edit-distance similarity, for
    places that must not guess from a fragment."""
    score = fuzz.WRatio if scorer == "wratio" else fuzz.ratio
    found = process.extract(word, list(choices), scorer=score, limit=limit, score_cutoff=cutoff)
    return [choice for choice, _score, _index in found]

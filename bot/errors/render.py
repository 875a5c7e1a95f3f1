"""Formatted errors: what went wrong, what to do about it, and the exact command to recover.

    ### ⚠️ Budget exceeded

    The budget of $0.50 is used up ($0.5120 spent) before step 4.

    **Suggestions**
    - This job needs more than $0.50; $1.02 should be enough.

    **Recovery**
    - `/equitr retry --budget 1.02`

    **Documentation:** [docs/errors.md#budget-exceeded](docs/errors.md#budget-exceeded) · …

A renderer of one table: `KINDS[anchor]` says, for each documented kind of error, its title, its category,
what to suggest, which commands recover and which section of docs/configuration.md to link. Which kind an
error is, the names it most likely meant and the flag that carried the wrong value were decided where it
was raised (`EquitrError.kind`, `.closest`, `.flag`); nothing here reads them back out of a message.

Pure functions of the exception and an `ErrorContext` (what the command asked for); the caller posts the
result with `equitr.github.comments.upsert(..., "error", job.ref, body, author=...)`, one error comment per job.

Two rules hold for every output, whatever the exception carries: it passes through `equitr.redact.redact`, and
it never contains a traceback, a stack frame or an absolute source path. Exceptions that are not equitr's
own (a bug) show only their class name; their details belong in the server log, not in a public comment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import aiohttp
import gidgethub

from equitr.agent.ledger import suggest_budget
from equitr.config.flags import EffectiveSettings
from equitr.config.problems import FILENAME
from equitr.config.repo import RepoConfig
from equitr.errors import EquitrError, JobBusy, ModelError, PathRefused, RepoConfigError
from equitr.events.commands import USAGE, Command
from equitr.redact import redact
from equitr.text.money import amount, usd
from equitr.text.sanitize import public_text

Category = Literal["configuration", "runtime", "validation", "internal"]

ERRORS_DOC = "docs/errors.md"
CONFIG_DOC = "docs/configuration.md"


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What the failed command asked for and ran with; every field is optional."""

    command: str | None = None  # "fix", "review", …
    flags: Mapping[str, str] = field(default_factory=dict)  # as typed: {"--budget": "0.5", "--model": "…"}
    budget_usd: float | None = None
    spent_usd: float | None = None
    max_budget_usd: float | None = None  # `budget.max_flag_usd`: the largest `--budget` allowed
    supervisor_model: str | None = None
    worker_model: str | None = None
    fallback_model: str | None = None
    allowed_models: tuple[str, ...] = ()
    repo: str | None = None  # owner/name
    # Where docs/ is published (EQUITR_DOCS_URL, e.g. "https://github.com/OWNER/equitr/blob/main"). Without it
    # the paths are shown as text: a relative link in a comment would resolve against the URL.
    docs_url: str | None = None

    @classmethod
    def from_command(
        cls,
        command: Command,
        *,
        repo: str | None = None,
        config: RepoConfig | None = None,
        effective: EffectiveSettings | None = None,
        spent_usd: float | None = None,
        docs_url: str | None = None,
    ) -> ErrorContext:
        flags: dict[str, str] = {}
        if command.budget_usd is not None:
            flags["--budget"] = amount(command.budget_usd)
        if command.model:
            flags["--model"] = command.model
        if command.worker_model:
            flags["--worker-model"] = command.worker_model
        return cls(
            command=command.name,
            flags=flags,
            budget_usd=effective.budget_usd if effective else command.budget_usd,
            spent_usd=spent_usd,
            max_budget_usd=config.budget.max_flag_usd if config else None,
            supervisor_model=effective.supervisor_model if effective else command.model,
            worker_model=effective.worker_model if effective else command.worker_model,
            fallback_model=(effective.fallback_model if effective else None)
            or (config.models.fallback if config else None),
            allowed_models=tuple(config.models.allowed) if config else (),
            repo=repo,
            docs_url=docs_url,
        )


@dataclass(frozen=True, slots=True)
class Case:
    """One error being explained: the exception, the command's context, and the error's hint as a sentence."""

    error: BaseException
    ctx: ErrorContext
    hint: str
    closest: list[str]  # what the person most likely meant (`EquitrError.closest`)
    flag: str | None  # the flag that carried the wrong value (`EquitrError.flag`)

    @property
    def hints(self) -> list[str]:
        return [self.hint] if self.hint else []

    @property
    def message(self) -> str:
        return getattr(self.error, "message", "")

    def retry(self, **overrides: str | None) -> str:
        """`/equitr retry` with the flags the person used, some replaced (`--budget` etc. as keys)."""
        flags = dict(self.ctx.flags)
        flags.update({k: v for k, v in overrides.items() if v})
        words = [f"{flag} {flags[flag]}" for flag in ("--budget", "--model", "--worker-model") if flags.get(flag)]
        return " ".join(["/equitr retry", *words])

    def other_model(self, lead: str) -> list[str]:
        """Another model only helps when a model failed, not when GitHub or the network did."""
        fallback = self.ctx.fallback_model
        if (
            isinstance(self.error, ModelError)
            and fallback
            and fallback not in (self.ctx.supervisor_model, self.ctx.worker_model)
        ):
            return [f"{lead}: `--model {fallback}`."]
        return []

    def allowed(self) -> list[str]:
        return ["This repository allows: " + ", ".join(f"`{m}`" for m in self.ctx.allowed_models) + "."]


Advice = Callable[[Case], list[str]]


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One documented kind of error: `anchor` is its heading in docs/errors.md; `docs` the section of
    docs/configuration.md it also links to ("" the page's top, None none)."""

    title: str
    category: Category
    suggest: Advice
    recover: Advice
    docs: str | None = None
    anchor: str = ""


# -- what each kind suggests and recovers with ------------------------------------------------------------

_HELP = "`/equitr help` lists every command and its flags."
_STATUS = "`/equitr status` shows where the job stopped."


def _hint_or(*default: str) -> Advice:
    return lambda c: c.hints or list(default)


def _then(*commands: str) -> Advice:
    return lambda _c: list(commands)


def _unknown_model(c: Case) -> list[str]:
    out = ["Did you mean " + _or([f"`{n}`" for n in c.closest]) + "?"] if c.closest else c.hints
    out.append("`equitr models list` shows every model name equitr knows; Ollama models are `ollama/NAME:TAG`.")
    return out + (c.allowed() if c.ctx.allowed_models else [])


def _unknown_model_fix(c: Case) -> list[str]:
    return [*([c.retry(**{c.flag or "--model": c.closest[0]})] if c.closest else []), "equitr models list"]


def _operator(text: str) -> Advice:
    return lambda c: [*c.hints, text]


def _doctor_then_retry(c: Case) -> list[str]:
    fallback = [c.retry(**{"--model": c.ctx.fallback_model})] if c.ctx.fallback_model else []
    return ["equitr doctor", c.retry(), *fallback]


def _transient(*extra: str) -> Advice:
    """Try again; then on the fallback model when a model failed; then what else helps."""

    def plan(c: Case) -> list[str]:
        fallback = c.ctx.fallback_model not in (None, c.ctx.supervisor_model, c.ctx.worker_model)
        other = [c.retry(**{"--model": c.ctx.fallback_model})] if fallback and isinstance(c.error, ModelError) else []
        return [c.retry(), *other, *extra]

    return plan


def _rate_limited(c: Case) -> list[str]:
    wait = getattr(c.error, "retry_after_s", None)
    first = f"Wait about {max(1, round(wait))} s before retrying; the provider said so." if wait else None
    return [first or "Wait a minute before retrying.", *c.hints, *c.other_model("Or run on another provider's model")]


def _unreachable(*, network: bool) -> Advice:
    """A server equitr could not reach (or that failed): how to start it, the network, another model."""

    def advice(c: Case) -> list[str]:
        out = list(c.hints)
        if "ollama" in c.message.lower() and "ollama serve" not in c.hint:
            out.append("Start Ollama with `ollama serve` or set OLLAMA_HOST; `ollama list` shows the models it has.")
        if network and not c.hint:
            out.append("Check the network between equitr and the server; equitr already retried with backoff.")
        return out + c.other_model("Or use the fallback model")

    return advice


def _budget(c: Case) -> list[str]:
    spent, budget, needed = _needed(c)
    out = [
        f"This job needs more than {usd(budget)} ({usd(spent, places=4)} spent so far); {usd(needed)} should be enough."
    ]
    if c.ctx.max_budget_usd is not None and needed > c.ctx.max_budget_usd:
        out.append(
            f"That is above this repository's `--budget` maximum of {usd(c.ctx.max_budget_usd)}: a maintainer can "
            f"raise `budget.max_flag_usd` in `{FILENAME}` on the default branch."
        )
    out.append("A cheaper worker model costs less per step: a local Ollama model costs $0 (`--worker-model ollama/…`).")
    return [*out, "`/equitr plan` shows the plan and a cost estimate without spending on the change."]


def _budget_fix(c: Case) -> list[str]:
    _spent, budget, needed = _needed(c)
    if c.ctx.max_budget_usd is not None and needed > c.ctx.max_budget_usd:
        needed = c.ctx.max_budget_usd
    return [*([c.retry(**{"--budget": amount(needed)})] if needed > budget else []), "/equitr plan"]


def _needed(c: Case) -> tuple[float, float, float]:
    spent = getattr(c.error, "spent_usd", None)
    budget = getattr(c.error, "budget_usd", None)
    spent = float(spent if spent is not None else c.ctx.spent_usd or 0.0)
    budget = float(budget if budget is not None else c.ctx.budget_usd or 0.0)
    return spent, budget, float(suggest_budget(spent, budget))


_LIMIT_KEYS = {"time": "limits.max_minutes", "steps": "limits.max_steps", "disk": "limits.max_disk_mb"}


def _limit(c: Case) -> list[str]:
    limit = getattr(c.error, "limit", "")
    out = [f"Raise `{_LIMIT_KEYS[limit]}` in `{FILENAME}` on the default branch."] if limit in _LIMIT_KEYS else []
    if limit == "disk":
        return [*out, "Or have the tests write large temporary files under `/tmp`, which is not counted."]
    return [*out, "Or split the task: smaller, more specific instructions need fewer steps."]


def _sandbox(c: Case) -> list[str]:
    if isinstance(c.error, PathRefused):
        return [
            *c.hints,
            "Writes under `.github/workflows` and to the paths in `fix.blocked_paths` are always refused; the "
            "files CI runs are refused unless `fix.allow_ci_paths` allows them.",
        ]
    return [*c.hints, "An operator can run `equitr doctor` to check the sandbox (bubblewrap) on the server."]


def _sandbox_fix(c: Case) -> list[str]:
    return ["/equitr retry"] if isinstance(c.error, PathRefused) else ["equitr doctor", "/equitr retry"]


def _busy(c: Case) -> list[str]:
    if not isinstance(c.error, JobBusy):
        return c.hints or [_STATUS]
    return [
        f"Wait for job {c.error.running_id} to end (`/equitr status` shows where it is), or stop it with "
        "`/equitr cancel`; then `/equitr retry` runs this command again.",
        "equitr runs one change at a time on an issue, so that two jobs never push over each other.",
    ]


def _command(c: Case) -> list[str]:
    meant = c.closest[0] if c.closest else ""
    out = [f"Did you mean `/equitr {meant}`? Usage: `{USAGE[meant]}`."] if meant in USAGE else []
    out += [f"Did you mean `{meant}`?"] if meant and not out else []  # a flag
    return out + ([c.hint] if c.hint.startswith("Usage:") else []) + [_HELP]


def _command_fix(c: Case) -> list[str]:
    meant = c.closest[0] if c.closest else ""
    again = meant in USAGE and meant not in ("help", c.ctx.command)
    return [f"/equitr {meant}", "/equitr help"] if again else ["/equitr help"]


def _parameters(c: Case) -> list[str]:
    models = c.flag in ("--model", "--worker-model") and c.ctx.allowed_models
    return [*c.hints, *(c.allowed() if models else [])]


def _parameters_fix(c: Case) -> list[str]:
    """For flags refused by the repository's bounds: the same command within them."""
    concrete = [m for m in c.ctx.allowed_models if not m.endswith("*")]
    if c.flag == "--budget" and c.ctx.max_budget_usd is not None:
        return [c.retry(**{"--budget": amount(c.ctx.max_budget_usd)}), "/equitr help"]
    if c.flag in ("--model", "--worker-model") and concrete:
        return [c.retry(**{c.flag: concrete[0]}), "/equitr help"]
    return ["/equitr help"]


def _busy_fix(c: Case) -> list[str]:
    return ["/equitr status", "/equitr cancel", c.retry()]


_GITHUB_ADVICE = {
    401: "GitHub refused equitr's credentials: an operator checks GH_APP_ID and the App's private key.",
    403: "The App may lack a permission on this repository: check the installation's permissions.",
    404: "The repository, issue or file may have moved, or the App is not installed on it.",
    422: "GitHub refused the request's content, e.g. a branch or pull request that already exists.",
}


def _github(c: Case) -> list[str]:
    code = _status(c.error) or 0
    if code >= 500:
        return [*c.hints, "GitHub is having trouble; retrying in a few minutes usually works (githubstatus.com)."]
    return [*c.hints, _GITHUB_ADVICE.get(code, "Retrying usually works; `/equitr status` shows where the job stopped.")]


def _quota(c: Case) -> list[str]:
    return (c.hints or ["Add credit or raise the spend limit with the provider."]) + c.other_model("Or switch models")


def _not_found(c: Case) -> list[str]:
    check = "`equitr models check NAME` on the server says whether the model is there."
    return [*c.hints, check, *c.other_model("Or use the fallback model")]


def _rejected(c: Case) -> list[str]:
    why = (
        "The model server refused what equitr sent: often a prompt longer than the model's context window, or an "
        "option this server does not support."
    )
    larger = c.other_model("A model with a larger context window may take it")
    return [*c.hints, why, *larger, "Smaller, more specific instructions make smaller prompts."]


def _timeout(c: Case) -> list[str]:
    slow = c.hints or ["The server may be overloaded, or the model too large for its machine."]
    return slow + c.other_model("A smaller or hosted model answers faster")


_CONFIG_FILE = (
    f"Edit `{FILENAME}` on the default branch; copies on other branches and in pull requests are ignored.",
    f"Every key with its default and allowed values is in `{CONFIG_DOC}`.",
)
_SET_IT = "An operator sets it in equitr's environment and restarts equitr; `equitr doctor` checks everything."
_NEW_KEY = "An operator replaces the API key in equitr's environment; `equitr doctor` checks it."
_MONTH = (
    "`/equitr cost` shows this month's spending by issue and pull request.",
    f"A maintainer can raise `budget.per_month_usd` in `{FILENAME}`; the budget renews on the 1st (UTC).",
)
_BUG = (
    "This is a bug in equitr, not a problem with your request.",
    "An operator finds the details in the server log, under the job id when one is shown.",
)
_RETRY_OR_STATUS = _then("/equitr retry", "/equitr status")
_RETRY, _COST_RETRY, _PLAN_RETRY = (
    _then("/equitr retry"),
    _then("/equitr cost", "/equitr retry"),
    _then("/equitr plan", "/equitr retry"),
)
_CFG: Category = "configuration"
_RUN: Category = "runtime"
_VAL: Category = "validation"
_K = ErrorKind
# The catalogue: one row per heading in docs/errors.md (docs/troubleshooting.md is generated from it).
_TABLE: dict[str, ErrorKind] = {
    "invalid-configuration-file": _K(f"Invalid `{FILENAME}`", _CFG, _then(*_CONFIG_FILE), _RETRY, docs=""),
    "unknown-model": _K("Unknown model", _CFG, _unknown_model, _unknown_model_fix, docs="models"),
    "missing-setting": _K("Missing setting", _CFG, _operator(_SET_IT), _doctor_then_retry),
    "model-credentials": _K("Model provider rejected the credentials", _CFG, _operator(_NEW_KEY), _doctor_then_retry),
    "configuration-error": _K("Configuration problem", _CFG, _hint_or(_STATUS), _RETRY_OR_STATUS),
    "rate-limited": _K("Rate limited", _RUN, _rate_limited, _transient()),
    "quota-used-up": _K("Model provider quota used up", _RUN, _quota, _transient()),
    "model-unavailable": _K("Model unavailable", _RUN, _unreachable(network=False), _transient("equitr doctor")),
    "model-not-found": _K("Model not found", _CFG, _not_found, _transient("equitr doctor")),
    "model-request-rejected": _K("Model rejected the request", _RUN, _rejected, _transient()),
    "network-error": _K("Network error", _RUN, _unreachable(network=True), _transient()),
    "timeout": _K("Timed out", _RUN, _timeout, _transient()),
    "github-error": _K("GitHub API error", _RUN, _github, _RETRY_OR_STATUS),
    "job-failed": _K("Job failed", _RUN, _hint_or(_STATUS), _RETRY_OR_STATUS),
    "invalid-command": _K("Invalid command", _VAL, _command, _command_fix),
    "invalid-parameters": _K("Invalid parameters", _VAL, _parameters, _parameters_fix),
    "budget-exceeded": _K("Budget exceeded", _VAL, _budget, _budget_fix, docs="budget"),
    "monthly-budget-used-up": _K("Monthly budget used up", _VAL, _then(*_MONTH), _COST_RETRY, docs="budget"),
    "limit-reached": _K("Step, time or disk limit reached", _VAL, _limit, _PLAN_RETRY, docs="limits"),
    "refused-by-the-sandbox": _K("Refused by the sandbox", _VAL, _sandbox, _sandbox_fix, docs="fix"),
    "already-running": _K("Another job is already working here", _VAL, _busy, _busy_fix),
    "internal-error": _K("Internal error", "internal", _then(*_BUG), _RETRY_OR_STATUS),
}  # fmt: skip
KINDS: dict[str, ErrorKind] = {anchor: replace(kind, anchor=anchor) for anchor, kind in _TABLE.items()}


# -- the renderer -----------------------------------------------------------------------------------------


def error_kind(error: BaseException) -> ErrorKind:
    """Which documented kind of error this is: the one its raiser named (`EquitrError.kind`), or for
    exceptions that are not equitr's, by their type."""
    return KINDS[_anchor(error)]


def _anchor(error: BaseException) -> str:
    if isinstance(error, EquitrError):
        return error.kind if error.kind in KINDS else "job-failed"
    if isinstance(error, TimeoutError):  # asyncio.TimeoutError is the same class since 3.11
        return "timeout"
    if isinstance(error, gidgethub.RateLimitExceeded):
        return "rate-limited"
    if isinstance(error, gidgethub.GitHubException):
        return "github-error"
    if isinstance(error, aiohttp.ClientError | ConnectionError):
        return "network-error"
    return "internal-error"


def _case(error: BaseException, context: ErrorContext | None) -> Case:
    equitr = error if isinstance(error, EquitrError) else None
    return Case(
        error=error,
        ctx=context or ErrorContext(),
        hint=_sentence(public_text(equitr.hint)) if equitr and equitr.hint else "",
        closest=equitr.closest if equitr else [],
        flag=equitr.flag if equitr else None,
    )


def describe(error: BaseException) -> str:
    """One or two sentences on what happened, cleaned (no traceback, no paths; not yet redacted)."""
    if isinstance(error, RepoConfigError):
        count = len(error.problems)
        return (
            f"`{FILENAME}` on the default branch has {count} problem{'s' if count != 1 else ''}, "
            "so equitr did not start this job."
        )
    if isinstance(error, EquitrError):
        text = _sentence(public_text(error.message))
        if text.split(" ", 1)[0].isalpha() and text[:1].islower():  # "the server …", not "openai/…" or "`x`"
            text = text[:1].upper() + text[1:]
        return text or f"equitr stopped with a {type(error).__name__}."
    if isinstance(error, TimeoutError):
        return "An operation took too long and was stopped."
    if isinstance(error, gidgethub.HTTPException):
        detail = public_text(str(error))
        return f"GitHub answered HTTP {int(error.status_code)}" + (f": {detail}." if detail else ".")
    if isinstance(error, gidgethub.GitHubException):
        return "A request to GitHub failed."
    if isinstance(error, aiohttp.ClientError | ConnectionError):
        return f"A network request failed ({type(error).__name__})."
    # A bug: its message may hold anything (paths, data), so only the class name leaves the process.
    return f"equitr hit an internal error (`{type(error).__name__}`) and stopped. The details are in the server log."


def suggest_solutions(error: BaseException, context: ErrorContext | None = None) -> list[str]:
    """Concrete things to change, most useful first (Markdown, one bullet each)."""
    return list(dict.fromkeys(s for s in error_kind(error).suggest(_case(error, context)) if s))


def create_recovery_plan(error: BaseException, context: ErrorContext | None = None) -> list[str]:
    """The exact commands to run next, in order: `/equitr …` comments, or `equitr …` for an operator."""
    return list(dict.fromkeys(error_kind(error).recover(_case(error, context))))


def doc_links(error: BaseException) -> list[str]:
    """Relative documentation paths with anchors: the error's own section first, then the configuration it
    concerns (a refused `--budget` links to the budget keys)."""
    kind = error_kind(error)
    section = kind.docs
    case = _case(error, None)
    if section is None and "--budget" in (case.flag, *case.closest):
        section = "budget"
    links = [f"{ERRORS_DOC}#{kind.anchor}"]
    return links + ([f"{CONFIG_DOC}#{section}" if section else CONFIG_DOC] if section is not None else [])


def doc_url(base: str, link: str) -> str:
    """The address of `link` (`docs/errors.md#budget-exceeded`) under `base` (EQUITR_DOCS_URL).

    `base` is either the repository folder that holds docs/ on GitHub (`…/blob/main`, `…/tree/v1.2.0`), where
    the Markdown file itself is shown, or the documentation site built by `mkdocs build` (`mkdocs.yml`),
    where `docs/errors.md` is the page `errors/` and the anchor is the same heading id."""
    base = base.rstrip("/")
    if "/blob/" in base or "/tree/" in base:
        return f"{base}/{link}"
    page, _, anchor = link.partition("#")
    page = page.removeprefix("docs/").removesuffix(".md")
    page = "" if page == "index" else f"{page}/"
    return f"{base}/{page}" + (f"#{anchor}" if anchor else "")


def format_error(error: BaseException, *, job_id: int | str | None = None, context: ErrorContext | None = None) -> str:
    """The Markdown body of an error comment, redacted. Never raises: a failure while describing an error
    must not hide the error, so it falls back to the generic internal-error text."""
    try:
        return redact(_format(error, job_id=job_id, context=context))
    except Exception:  # pragma: no cover - defensive; every branch above is tested
        return redact(_format(RuntimeError(), job_id=job_id, context=None))


def _format(error: BaseException, *, job_id: int | str | None, context: ErrorContext | None) -> str:
    kind = error_kind(error)
    parts = [f"### ⚠️ {kind.title}", describe(error)]
    if isinstance(error, RepoConfigError):
        parts.append("\n".join(f"- {public_text(str(p))}" for p in error.problems))
    suggestions = suggest_solutions(error, context)
    if suggestions:
        parts.append("**Suggestions**\n" + "\n".join(f"- {s}" for s in suggestions))
    plan = create_recovery_plan(error, context)
    if plan:
        parts.append("**Recovery**\n" + "\n".join(f"- `{c}`" for c in plan))
    links = doc_links(error)
    if context and context.docs_url:
        base = context.docs_url
        parts.append("**Documentation:** " + " · ".join(f"[{link}]({doc_url(base, link)})" for link in links))
    else:
        parts.append("**Documentation** (in equitr's repository): " + " · ".join(f"`{link}`" for link in links))
    if job_id is not None:
        parts.append(f"<sub>equitr job {public_text(str(job_id))[:40]} · `/equitr status` shows the job.</sub>")
    return "\n\n".join(parts) + "\n"


# -- helpers ----------------------------------------------------------------------------------------------


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    return int(status) if status is not None else None


def _sentence(text: str) -> str:
    return text + "." if text and not text.endswith((".", "?", "!", ")", "`")) else text


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]

"""Formatted errors: what went wrong, what to do about it, and the exact command to recover.

    ### ⚠️ Budget exceeded

    The budget of $0.50 is used up ($0.5120 spent) before step 4.

    **Suggestions**
    - This job needs more than $0.50; $1.02 should be enough.

    **Recovery**
    - `/equitr retry --budget 1.02`

    **Documentation:** [docs/errors.md#budget-exceeded](docs/errors.md#budget-exceeded) · …

Pure functions of the exception and an `ErrorContext` (what the command asked for); the caller posts the
result with `equitr.comments.upsert(..., "error", job.ref, body, author=...)`, one error comment per job.

Two rules hold for every output, whatever the exception carries: it passes through `equitr.redact.redact`, and
it never contains a traceback, a stack frame or an absolute source path. Exceptions that are not equitr's
own (a bug) show only their class name; their details belong in the server log, not in a public comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import gidgethub

from equitr.agent.ledger import suggest_budget
from equitr.commands import USAGE, Command
from equitr.config.flags import EffectiveSettings
from equitr.config.problems import FILENAME, MonthlyBudgetExceeded, RepoConfigError
from equitr.config.repo import RepoConfig
from equitr.errors import (
    BudgetExceeded,
    CommandError,
    ConfigError,
    EquitrError,
    GitHubError,
    JobBusy,
    LimitReached,
    ModelError,
    PathRefused,
    PermissionDenied,
    SandboxError,
    ToolError,
    ValidationError,
)
from equitr.money import amount, usd
from equitr.redact import redact
from equitr.sanitize import sanitize_inline

Category = Literal["configuration", "runtime", "validation", "internal"]

ERRORS_DOC = "docs/errors.md"
CONFIG_DOC = "docs/configuration.md"
_MAX_MESSAGE = 800  # a server that echoes a whole page back must not flood the comment


@dataclass(frozen=True, slots=True)
class ErrorKind:
    anchor: str  # the heading in docs/errors.md that explains it
    category: Category
    title: str


_KINDS = [
    ErrorKind("invalid-configuration-file", "configuration", f"Invalid `{FILENAME}`"),
    ErrorKind("unknown-model", "configuration", "Unknown model"),
    ErrorKind("missing-setting", "configuration", "Missing setting"),
    ErrorKind("model-credentials", "configuration", "Model provider rejected the credentials"),
    ErrorKind("configuration-error", "configuration", "Configuration problem"),
    ErrorKind("rate-limited", "runtime", "Rate limited"),
    ErrorKind("quota-used-up", "runtime", "Model provider quota used up"),
    ErrorKind("model-unavailable", "runtime", "Model unavailable"),
    ErrorKind("model-not-found", "configuration", "Model not found"),
    ErrorKind("model-request-rejected", "runtime", "Model rejected the request"),
    ErrorKind("network-error", "runtime", "Network error"),
    ErrorKind("timeout", "runtime", "Timed out"),
    ErrorKind("github-error", "runtime", "GitHub API error"),
    ErrorKind("job-failed", "runtime", "Job failed"),
    ErrorKind("invalid-command", "validation", "Invalid command"),
    ErrorKind("invalid-parameters", "validation", "Invalid parameters"),
    ErrorKind("permission-denied", "validation", "Permission denied"),
    ErrorKind("budget-exceeded", "validation", "Budget exceeded"),
    ErrorKind("monthly-budget-used-up", "validation", "Monthly budget used up"),
    ErrorKind("limit-reached", "validation", "Step, time or disk limit reached"),
    ErrorKind("refused-by-the-sandbox", "validation", "Refused by the sandbox"),
    ErrorKind("already-running", "validation", "Another job is already working here"),
    ErrorKind("internal-error", "internal", "Internal error"),
]
KINDS: dict[str, ErrorKind] = {kind.anchor: kind for kind in _KINDS}


# The section of docs/configuration.md an error kind links to besides its own ("" is the page's top).
CONFIG_SECTIONS: dict[str, str] = {
    "invalid-configuration-file": "",
    "unknown-model": "models",
    "budget-exceeded": "budget",
    "monthly-budget-used-up": "budget",
    "limit-reached": "limits",
    "refused-by-the-sandbox": "fix",
}


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


# -- classification ---------------------------------------------------------------------------------------


def error_kind(error: BaseException) -> ErrorKind:
    """Which documented kind of error this is. Decided by exception type first; by the wording only where
    one exception type covers several situations (a ModelError can be a rate limit or a server down)."""
    return KINDS[_anchor(error)]


def classify(error: BaseException) -> tuple[Category, str]:
    """(category, title): configuration, runtime, validation, or internal for exceptions that are bugs."""
    kind = error_kind(error)
    return kind.category, kind.title


def _anchor(error: BaseException) -> str:
    if isinstance(error, RepoConfigError):
        return "invalid-configuration-file"
    if isinstance(error, ConfigError):
        if re.search(r"\bis not set\b|\bmissing\b|\bnot configured\b", error.message, re.IGNORECASE):
            return "missing-setting"
        if re.search(r"\bmodel\b|\bprovider\b|\.gguf\b", error.message, re.IGNORECASE):
            return "unknown-model"
        return "configuration-error"
    if isinstance(error, MonthlyBudgetExceeded):
        return "monthly-budget-used-up"
    if isinstance(error, BudgetExceeded):
        return "budget-exceeded"
    if isinstance(error, PermissionDenied):
        return "permission-denied"
    if isinstance(error, JobBusy):
        return "already-running"
    if isinstance(error, CommandError):
        return "invalid-command"
    if isinstance(error, LimitReached):
        return "limit-reached"
    if isinstance(error, SandboxError):
        return "refused-by-the-sandbox"
    if isinstance(error, ModelError):
        return _model_anchor(error)
    if isinstance(error, GitHubError):
        if error.status in (403, 429) and "rate limit" in error.message.lower():
            return "rate-limited"
        return "network-error" if error.status is None and "reach" in error.message else "github-error"
    if isinstance(error, ValidationError | ToolError):
        return "invalid-parameters"
    if isinstance(error, EquitrError):
        return "job-failed"
    if isinstance(error, TimeoutError):  # asyncio.TimeoutError is the same class since 3.11
        return "timeout"
    if isinstance(error, gidgethub.RateLimitExceeded):
        return "rate-limited"
    if isinstance(error, gidgethub.GitHubException):
        return "github-error"
    if isinstance(error, aiohttp.ClientError | ConnectionError):
        return "network-error"
    return "internal-error"


def _model_anchor(error: ModelError) -> str:
    text = error.message.lower()
    if "quota" in text or "spend limit" in text:
        return "quota-used-up"
    if error.status == 429:
        return "rate-limited"
    if error.status in (401, 403):
        return "model-credentials"
    if error.status == 408 or "did not answer within" in text:
        return "timeout"
    if error.status == 404:
        return "model-not-found"  # no such model on that server (Ollama: not pulled), or a wrong base URL
    if error.status is not None and 400 <= error.status < 500:
        return "model-request-rejected"  # 400, 413, 422 …: what equitr sent, not whether the server is up
    return "model-unavailable"  # cannot reach the server, 5xx, overloaded


# -- what happened ----------------------------------------------------------------------------------------


def describe(error: BaseException) -> str:
    """One or two sentences on what happened, cleaned (no traceback, no paths; not yet redacted)."""
    anchor = _anchor(error)
    if isinstance(error, RepoConfigError):
        count = len(error.problems)
        return (
            f"`{FILENAME}` on the default branch has {count} problem{'s' if count != 1 else ''}, "
            "so equitr did not start this job."
        )
    if isinstance(error, EquitrError):
        text = _sentence(_clean(error.message))
        if text.split(" ", 1)[0].isalpha() and text[:1].islower():  # "the server …", not "openai/…" or "`x`"
            text = text[:1].upper() + text[1:]
        return text or f"equitr stopped with a {type(error).__name__}."
    if anchor == "timeout":
        return "An operation took too long and was stopped."
    if isinstance(error, gidgethub.HTTPException):
        status = int(error.status_code)
        detail = _clean(str(error))
        return f"GitHub answered HTTP {status}" + (f": {detail}." if detail else ".")
    if isinstance(error, gidgethub.GitHubException):
        return "A request to GitHub failed."
    if anchor == "network-error":
        return f"A network request failed ({type(error).__name__})."
    # A bug: its message may hold anything (paths, data), so only the class name leaves the process.
    return f"equitr hit an internal error (`{type(error).__name__}`) and stopped. The details are in the server log."


# -- suggestions and recovery -----------------------------------------------------------------------------


def suggest_solutions(error: BaseException, context: ErrorContext | None = None) -> list[str]:
    """Concrete things to change, most useful first (Markdown, one bullet each)."""
    ctx = context or ErrorContext()
    anchor = _anchor(error)
    hint = _sentence(_clean(error.hint)) if isinstance(error, EquitrError) and error.hint else ""
    # Another model only helps when a model failed, not when GitHub or the network did.
    other_model = isinstance(error, ModelError)
    out: list[str] = []
    if anchor == "invalid-configuration-file":
        out.append(
            f"Edit `{FILENAME}` on the default branch; copies on other branches and in pull requests are ignored."
        )
        out.append(f"Every key with its default and allowed values is in `{CONFIG_DOC}`.")
    elif anchor == "unknown-model":
        names = closest_models(error)
        if names:
            out.append("Did you mean " + _or([f"`{n}`" for n in names]) + "?")
        elif hint:
            out.append(hint)
        out.append("`equitr models list` shows every model name equitr knows; Ollama models are `ollama/NAME:TAG`.")
        if ctx.allowed_models:
            out.append("This repository allows: " + ", ".join(f"`{m}`" for m in ctx.allowed_models) + ".")
    elif anchor == "missing-setting":
        out += [hint] if hint else []
        out.append(
            "An operator sets it in equitr's environment and restarts equitr; `equitr doctor` checks everything."
        )
    elif anchor == "model-credentials":
        out += [hint] if hint else []
        out.append("An operator replaces the API key in equitr's environment; `equitr doctor` checks it.")
    elif anchor == "rate-limited":
        wait = getattr(error, "retry_after_s", None)
        out.append(
            f"Wait about {max(1, round(wait))} s before retrying; the provider said so."
            if wait
            else "Wait a minute before retrying."
        )
        out += [hint] if hint else []
        out += _other_model(ctx, "Or run on another provider's model") if other_model else []
    elif anchor == "quota-used-up":
        out += [hint] if hint else ["Add credit or raise the spend limit with the provider."]
        out += _other_model(ctx, "Or switch models") if other_model else []
    elif anchor in ("model-unavailable", "network-error"):
        out += [hint] if hint else []
        if "ollama" in str(getattr(error, "message", "")).lower() and "ollama serve" not in hint:
            out.append("Start Ollama with `ollama serve` or set OLLAMA_HOST; `ollama list` shows the models it has.")
        if anchor == "network-error" and not hint:
            out.append("Check the network between equitr and the server; equitr already retried with backoff.")
        out += _other_model(ctx, "Or use the fallback model") if other_model else []
    elif anchor == "model-not-found":
        out += [hint] if hint else []
        out.append("`equitr models check NAME` on the server says whether the model is there.")
        out += _other_model(ctx, "Or use the fallback model") if other_model else []
    elif anchor == "model-request-rejected":
        out += [hint] if hint else []
        out.append(
            "The model server refused what equitr sent: often a prompt longer than the model's context window, "
            "or an option this server does not support."
        )
        out += _other_model(ctx, "A model with a larger context window may take it") if other_model else []
        out.append("Smaller, more specific instructions make smaller prompts.")
    elif anchor == "timeout":
        out += [hint] if hint else ["The server may be overloaded, or the model too large for its machine."]
        out += _other_model(ctx, "A smaller or hosted model answers faster") if other_model else []
    elif anchor == "github-error":
        out += [hint] if hint else []
        out.append(_github_advice(error))
    elif anchor == "budget-exceeded":
        out += _budget_advice(error, ctx)
    elif anchor == "monthly-budget-used-up":
        out.append("`/equitr cost` shows this month's spending by issue and pull request.")
        out.append(
            f"A maintainer can raise `budget.per_month_usd` in `{FILENAME}`; the budget renews on the 1st (UTC)."
        )
    elif anchor == "limit-reached":
        key = {"time": "limits.max_minutes", "steps": "limits.max_steps", "disk": "limits.max_disk_mb"}.get(
            getattr(error, "limit", ""), ""
        )
        if key:
            out.append(f"Raise `{key}` in `{FILENAME}` on the default branch.")
        if getattr(error, "limit", "") == "disk":
            out.append("Or have the tests write large temporary files under `/tmp`, which is not counted.")
        else:
            out.append("Or split the task: smaller, more specific instructions need fewer steps.")
    elif anchor == "refused-by-the-sandbox":
        out += [hint] if hint else []
        if isinstance(error, PathRefused):
            out.append(
                "Writes under `.github/workflows` and to the paths in `fix.blocked_paths` are always refused; the "
                "files CI runs are refused unless `fix.allow_ci_paths` allows them."
            )
        else:
            out.append("An operator can run `equitr doctor` to check the sandbox (bubblewrap) on the server.")
    elif anchor == "already-running" and isinstance(error, JobBusy):
        out.append(
            f"Wait for job {error.running_id} to end (`/equitr status` shows where it is), or stop it with "
            "`/equitr cancel`; then `/equitr retry` runs this command again."
        )
        out.append("equitr runs one change at a time on an issue, so that two jobs never push over each other.")
    elif anchor == "permission-denied":
        out.append("Only collaborators with write, maintain or admin permission can start equitr jobs.")
        out.append("Ask a maintainer to comment the command for you.")
    elif anchor == "invalid-command":
        meant = _meant(error)
        if meant in USAGE:
            out.append(f"Did you mean `/equitr {meant}`? Usage: `{USAGE[meant]}`.")
        elif meant:
            out.append(f"Did you mean `{meant}`?")
        if hint.startswith("Usage:"):
            out.append(hint)
        out.append("`/equitr help` lists every command and its flags.")
    elif anchor == "invalid-parameters":
        out += [hint] if hint else []
        if ctx.allowed_models and "allows" in str(getattr(error, "message", "")):
            out.append("This repository allows: " + ", ".join(f"`{m}`" for m in ctx.allowed_models) + ".")
    elif anchor == "internal-error":
        out.append("This is a bug in equitr, not a problem with your request.")
        out.append("An operator finds the details in the server log, under the job id when one is shown.")
    else:  # job-failed, configuration-error
        out += [hint] if hint else ["`/equitr status` shows where the job stopped."]
    return list(dict.fromkeys(s for s in out if s))


def create_recovery_plan(error: BaseException, context: ErrorContext | None = None) -> list[str]:
    """The exact commands to run next, in order: `/equitr …` comments, or `equitr …` for an operator."""
    ctx = context or ErrorContext()
    anchor = _anchor(error)
    plan: list[str] = []
    if anchor == "unknown-model":
        names = closest_models(error)
        if names:
            plan.append(_retry(ctx, **{_model_flag(error, ctx): names[0]}))
        plan.append("equitr models list")
    elif anchor == "invalid-configuration-file":
        plan.append("/equitr retry")
    elif anchor in ("missing-setting", "model-credentials"):
        plan += ["equitr doctor", _retry(ctx)]
        plan += [_retry(ctx, **{"--model": ctx.fallback_model})] if ctx.fallback_model else []
    elif anchor in (
        "rate-limited", "quota-used-up", "model-unavailable", "model-not-found", "model-request-rejected",
        "network-error", "timeout",
    ):  # fmt: skip
        plan.append(_retry(ctx))
        fallback = ctx.fallback_model not in (None, ctx.supervisor_model, ctx.worker_model)
        if fallback and isinstance(error, ModelError):
            plan.append(_retry(ctx, **{"--model": ctx.fallback_model}))
        if anchor in ("model-unavailable", "model-not-found"):
            plan.append("equitr doctor")
    elif anchor == "budget-exceeded":
        plan += _budget_commands(error, ctx)
    elif anchor == "monthly-budget-used-up":
        plan += ["/equitr cost", "/equitr retry"]
    elif anchor == "limit-reached":
        plan += ["/equitr plan", "/equitr retry"]
    elif anchor == "refused-by-the-sandbox":
        plan += ["/equitr retry"] if isinstance(error, PathRefused) else ["equitr doctor", "/equitr retry"]
    elif anchor == "already-running":
        plan += ["/equitr status", "/equitr cancel", _retry(ctx)]
    elif anchor == "permission-denied":
        plan.append(f"/equitr {ctx.command or 'fix'}")
    elif anchor == "invalid-command":
        meant = _meant(error)
        if meant in USAGE and meant not in ("help", ctx.command):
            plan.append(f"/equitr {meant}")
        plan.append("/equitr help")
    elif anchor == "invalid-parameters":
        plan += _parameter_fix(error, ctx)
        plan.append("/equitr help")
    else:  # github-error, job-failed, configuration-error, internal-error
        plan += ["/equitr retry", "/equitr status"]
    return list(dict.fromkeys(plan))


def doc_links(error: BaseException) -> list[str]:
    """Relative documentation paths with anchors: the error's own section first."""
    anchor = _anchor(error)
    links = [f"{ERRORS_DOC}#{anchor}"]
    section = CONFIG_SECTIONS.get(anchor)
    if section is not None:
        links.append(f"{CONFIG_DOC}#{section}" if section else CONFIG_DOC)
    elif isinstance(error, ValidationError) and "--budget" in getattr(error, "message", ""):
        links.append(f"{CONFIG_DOC}#budget")
    return links


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
        parts.append("\n".join(f"- {_clean(str(p))}" for p in error.problems))
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
        parts.append(f"<sub>equitr job {_clean(str(job_id))[:40]} · `/equitr status` shows the job.</sub>")
    return "\n\n".join(parts) + "\n"


# -- helpers ----------------------------------------------------------------------------------------------

_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\):[^\n]*\n"  # the header
    r"(?:[ \t]+[^\n]*(?:\n|$)|\n)*"  # indented frame and source lines
    # the final line, "ValueError: …" or "pkg.CustomFailure: …"
    r"(?:[A-Za-z_][\w.]*(?::[ \t][^\n]*|(?:Error|Exception|Exit|Interrupt|Warning)\b[^\n]*)(?:\n|$))?",
)
_CHAINED = re.compile(
    r"^[ \t]*(?:During handling of the above exception, another exception occurred:|"
    r"The above exception was the direct cause of the following exception:)[ \t]*$",
    re.MULTILINE,
)
# A stack frame anywhere in a line ("see File "/x.py", line 3, in f"), with the source line printed under it.
_FRAME = re.compile(r'[ \t]*File "[^"\n]*", line \d+[^\n]*\n?(?:[ \t]{4,}[^\n]*\n?)?')
_ABS_SOURCE = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+)+[\\/]([\w.-]+\.(?:py|pyc|pyi|so))\b")
# Where the operator's servers live (a model server, GitHub Enterprise, a proxy) is not for a public comment;
# only well-known public pages keep their address. " at URL" goes with its URL: "Ollama at http://…" → "Ollama".
_PUBLIC_HOSTS = frozenset(
    {
        "github.com", "docs.github.com", "www.githubstatus.com", "githubstatus.com", "api.github.com",
        "platform.openai.com", "api.openai.com", "console.anthropic.com", "api.anthropic.com", "ollama.com",
    }
)  # fmt: skip
_URL = re.compile(
    r"(?P<at>\s+at\s+)?\b[A-Za-z][A-Za-z0-9+.-]*://(?P<host>[^\s/:?#'\"<>()\[\]@]+@)?(?P<name>\[[^\]\s]*\]|[^\s/:?#'\"<>()\[\]]*)[^\s'\"<>()\[\]]*"
)
_ADDRESS = re.compile(
    r"\b(?:localhost|\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?\b|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?"
    r"|(?<=\bhost )[^\s:]+:\d{1,5}\b",
    re.IGNORECASE,
)
HIDDEN = "(address hidden)"


def _hide_url(match: re.Match[str]) -> str:
    url = match[0]
    trail = url[len(url.rstrip(".,:;!?")) :]  # the sentence's punctuation, not the URL's
    if match["host"] is None and match["name"].lower().rstrip(".,:;!?") in _PUBLIC_HOSTS:
        return url
    return ("" if match["at"] else HIDDEN) + trail


def hide_addresses(text: str) -> str:
    """`text` without the URLs, IP addresses and host:port pairs of non-public servers."""
    return _ADDRESS.sub(HIDDEN, _URL.sub(_hide_url, text))


def public_text(text: str) -> str:
    """Any text from an exception or a job's reason, made fit for a public comment (see `_clean`)."""
    return _clean(text)


def _clean(text: str) -> str:
    """Text from an exception made fit for a public comment: no traceback, no stack frame, no absolute
    source path, no internal address, no @mention that would notify someone, no HTML comment that could fake
    equitr's markers."""
    text = redact(text)  # before anything is cut: half a secret matches neither its value nor its pattern
    text = hide_addresses(text)
    text = _TRACEBACK.sub("", text)
    text = _CHAINED.sub("", text)
    text = _FRAME.sub("", text)
    text = _ABS_SOURCE.sub(r"\1", text)
    text = re.sub(r"\s*\n\s*", " ", text).strip()
    text = sanitize_inline(text)  # model and provider text: no mention, image, HTML or fake marker
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def closest_models(error: BaseException) -> list[str]:
    """The model names an unknown-model error suggests ("Did you mean a or b?"), best first."""
    hint = getattr(error, "hint", None) or ""
    found = re.search(r"Did you mean (.+?)\?", hint)
    if not found:
        return []
    return [name.strip(" `") for name in found.group(1).split(" or ") if "/" in name]


def _meant(error: BaseException) -> str:
    found = re.search(r"Did you mean `([a-z-]+)`\?", getattr(error, "message", ""))
    return found.group(1) if found else ""


def _model_flag(error: BaseException, ctx: ErrorContext) -> str:
    message = getattr(error, "message", "")
    worker = ctx.flags.get("--worker-model")
    if worker and worker in message and ctx.flags.get("--model", "\0") not in message:
        return "--worker-model"
    return "--model"


def _retry(ctx: ErrorContext, **overrides: str | None) -> str:
    """`/equitr retry` with the flags the person used, some replaced (`--budget` etc. as keys)."""
    flags = dict(ctx.flags)
    flags.update({k: v for k, v in overrides.items() if v})
    order = ("--budget", "--model", "--worker-model")
    words = [f"{flag} {flags[flag]}" for flag in order if flags.get(flag)]
    return " ".join(["/equitr retry", *words])


def _other_model(ctx: ErrorContext, lead: str) -> list[str]:
    if ctx.fallback_model and ctx.fallback_model not in (ctx.supervisor_model, ctx.worker_model):
        return [f"{lead}: `--model {ctx.fallback_model}`."]
    return []


def _sentence(text: str) -> str:
    return text + "." if text and not text.endswith((".", "?", "!", ")", "`")) else text


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _needed(error: BaseException, ctx: ErrorContext) -> tuple[float, float, float]:
    spent = getattr(error, "spent_usd", None)
    budget = getattr(error, "budget_usd", None)
    spent = float(spent if spent is not None else ctx.spent_usd or 0.0)
    budget = float(budget if budget is not None else ctx.budget_usd or 0.0)
    return spent, budget, float(suggest_budget(spent, budget))


def _budget_advice(error: BaseException, ctx: ErrorContext) -> list[str]:
    spent, budget, needed = _needed(error, ctx)
    out = [
        f"This job needs more than {usd(budget)} ({usd(spent, places=4)} spent so far); {usd(needed)} should be enough."
    ]
    if ctx.max_budget_usd is not None and needed > ctx.max_budget_usd:
        out.append(
            f"That is above this repository's `--budget` maximum of {usd(ctx.max_budget_usd)}: a maintainer can "
            f"raise `budget.max_flag_usd` in `{FILENAME}` on the default branch."
        )
    out.append("A cheaper worker model costs less per step: a local Ollama model costs $0 (`--worker-model ollama/…`).")
    out.append("`/equitr plan` shows the plan and a cost estimate without spending on the change.")
    return out


def _budget_commands(error: BaseException, ctx: ErrorContext) -> list[str]:
    _spent, budget, needed = _needed(error, ctx)
    if ctx.max_budget_usd is not None and needed > ctx.max_budget_usd:
        needed = ctx.max_budget_usd
    commands = [_retry(ctx, **{"--budget": amount(needed)})] if needed > budget else []
    return [*commands, "/equitr plan"]


def _parameter_fix(error: BaseException, ctx: ErrorContext) -> list[str]:
    """For flags refused by the repository's bounds: the same command within them."""
    message = getattr(error, "message", "")
    if "--budget" in message and ctx.max_budget_usd is not None:
        return [_retry(ctx, **{"--budget": amount(ctx.max_budget_usd)})]
    concrete = [m for m in ctx.allowed_models if not m.endswith("*")]
    if "allows" in message and concrete:
        flag = "--worker-model" if "--worker-model" in message else "--model"
        return [_retry(ctx, **{flag: concrete[0]})]
    return []


def _github_advice(error: BaseException) -> str:
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    code = int(status) if status is not None else 0
    if code == 401:
        return "GitHub refused equitr's credentials: an operator checks GH_APP_ID and the App's private key."
    if code == 403:
        return "The App may lack a permission on this repository: check the installation's permissions."
    if code == 404:
        return "The repository, issue or file may have moved, or the App is not installed on it."
    if code == 422:
        return "GitHub refused the request's content, e.g. a branch or pull request that already exists."
    if code >= 500:
        return "GitHub is having trouble; retrying in a few minutes usually works (githubstatus.com)."
    return "Retrying usually works; `/equitr status` shows where the job stopped."

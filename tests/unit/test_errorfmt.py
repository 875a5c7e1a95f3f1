"""Formatted errors: every kind has a title, what happened, suggestions, recovery commands and a documentation
link whose anchor exists; secrets are redacted; tracebacks and stack paths never reach a comment.

`examples()` holds one real error of each kind, produced by the code that raises it wherever that code is
reachable without a network; docs/errors.md shows exactly what they format to (checked below).
"""

from __future__ import annotations

import asyncio
import http
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import gidgethub
import pydantic
import pytest

from equitr import redact as redact_module
from equitr.agent.ledger import Call, Guard, Ledger
from equitr.config.flags import Limits, resolve_flags
from equitr.config.repo import load_default, parse
from equitr.errors import (
    BudgetExceeded,
    CommandError,
    ConfigError,
    EquitrError,
    GitHubError,
    JobBusy,
    LimitReached,
    ModelError,
    MonthlyBudgetExceeded,
    RepoConfigError,
    RuntimeFailure,
    SandboxError,
    ToolError,
    ValidationError,
)
from equitr.errors.render import (
    KINDS,
    ErrorContext,
    create_recovery_plan,
    doc_links,
    error_kind,
    format_error,
    suggest_solutions,
)
from equitr.events.commands import Command
from equitr.events.commands import parse as parse_command
from equitr.jobs.model import Job
from equitr.jobs.runner import busy_error
from equitr.models.manager import ModelManager
from equitr.models.provider import require_key
from equitr.models.wire import Endpoint, http_error
from equitr.sandbox.paths import resolve_in_checkout

ROOT = Path(__file__).resolve().parents[2]
ERRORS_DOC = ROOT / "docs" / "errors.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"

OLLAMA = Endpoint(
    label="Ollama at http://127.0.0.1:11434",
    unreachable_hint="Is Ollama running? Start it with `ollama serve` or set OLLAMA_HOST.",
    missing_model_hint="Pull the model first: `ollama pull NAME` (see `ollama list`).",
)
COMPATIBLE = Endpoint(
    label="the OpenAI-compatible server at http://10.0.0.5:8000/v1",
    unreachable_hint="Is the server running? Check OPENAI_BASE_URL (it usually ends in /v1).",
    auth_hint="Check OPENAI_API_KEY for this server.",
    missing_model_hint="Ask the server which models it serves: GET OPENAI_BASE_URL/models.",
)
OPENAI = Endpoint(
    label="OpenAI",
    unreachable_hint="Check the network connection to api.openai.com.",
    auth_hint="Check OPENAI_API_KEY (a key from platform.openai.com/api-keys).",
)
CONTEXT = ErrorContext(
    command="fix",
    flags={"--budget": "0.50"},
    budget_usd=0.5,
    max_budget_usd=5.0,
    supervisor_model="openai/gpt-4.1-mini",
    worker_model="ollama/qwen3:30b",
    fallback_model="anthropic/claude-sonnet-4-5",
    repo="octo/repo",
)


def raised(make: Callable[[], object]) -> BaseException:
    try:
        make()
    except BaseException as error:
        return error
    raise AssertionError("expected an exception")


def _guard(*, budget: float = 1.0, spent: float = 0.0, steps: int = 0) -> Guard:
    ledger = Ledger()
    if spent:
        ledger.calls.append(Call("supervisor", "openai/gpt-4.1-mini", 120_000, 9_000, spent, 12.0))
    guard = Guard(Limits(budget_usd=budget, max_steps=40), ledger)
    guard.steps = steps
    return guard


def examples() -> dict[str, tuple[BaseException, ErrorContext]]:
    """One error of each documented kind, with the context a job would give it."""
    sandbox_root = Path(tempfile.mkdtemp())
    return {
        "invalid-configuration-file": (
            raised(
                lambda: parse('[budget]\nper_job_usd = -1\n[reviw]\nauto = true\n[models]\nworker = "olama/qwen3"\n')
            ),
            CONTEXT,
        ),
        "unknown-model": (
            raised(
                lambda: resolve_flags(load_default(), budget_usd=None, model="openai/gpt-4.1-mni", worker_model=None)
            ),
            ErrorContext(command="fix", flags={"--model": "openai/gpt-4.1-mni"}),
        ),
        "missing-setting": (raised(lambda: require_key(None, "OPENAI_API_KEY", "openai/…")), CONTEXT),
        "model-credentials": (
            http_error(401, '{"error": {"message": "Incorrect API key provided"}}', {}, endpoint=OPENAI),
            CONTEXT,
        ),
        "configuration-error": (
            ConfigError("EQUITR_SANDBOX='docker' is not a sandbox mode.", hint="Use `bwrap` (default) or `none`."),
            ErrorContext(),
        ),
        "rate-limited": (
            http_error(
                429, '{"error": {"message": "Rate limit reached for requests"}}', {"retry-after": "20"}, endpoint=OPENAI
            ),
            CONTEXT,
        ),
        "quota-used-up": (
            http_error(
                429,
                '{"error": {"code": "insufficient_quota", "message": "You exceeded your current quota"}}',
                {},
                endpoint=OPENAI,
            ),
            CONTEXT,
        ),
        "model-unavailable": (
            ModelError(
                "Cannot reach Ollama at http://127.0.0.1:11434: Connection refused",
                retryable=True,
                hint=OLLAMA.unreachable_hint,
            ),
            CONTEXT,
        ),
        "model-not-found": (
            http_error(404, '{"error": "model \'qwen3:30b\' not found, try pulling it first"}', {}, endpoint=OLLAMA),
            CONTEXT,
        ),
        "model-request-rejected": (
            http_error(
                400,
                '{"error": {"message": "This model\'s maximum context length is 8192 tokens. However, you requested '
                '9120 tokens.", "type": "invalid_request_error"}}',
                {},
                endpoint=COMPATIBLE,
            ),
            CONTEXT,
        ),
        "network-error": (asyncio.run(_github_unreachable()), CONTEXT),
        "timeout": (
            ModelError(
                "Ollama at http://127.0.0.1:11434 did not answer within 120 s.",
                retryable=True,
                # What bot/models/wire.py says.
                hint="A slow or overloaded model server: try again, pick a smaller model, or raise "
                "EQUITR_MODEL_TIMEOUT (seconds per model call).",
                kind="timeout",
            ),
            CONTEXT,
        ),
        "github-error": (gidgethub.BadRequest(http.HTTPStatus(422), "Reference already exists"), CONTEXT),
        "job-failed": (RuntimeFailure("The supervisor rejected the change 3 times; the tests still fail."), CONTEXT),
        "invalid-command": (raised(lambda: parse_command("/equitr fxi")), ErrorContext()),
        "invalid-parameters": (
            raised(lambda: resolve_flags(load_default(), budget_usd=7.5, model=None, worker_model=None)),
            ErrorContext(command="fix", flags={"--budget": "7.50"}, max_budget_usd=5.0),
        ),
        "budget-exceeded": (raised(lambda: _guard(budget=0.5, spent=0.512).check("step 4")), CONTEXT),
        "monthly-budget-used-up": (
            raised(
                lambda: resolve_flags(
                    load_default(), budget_usd=None, model=None, worker_model=None, month_spent_usd=20.31
                )
            ),
            ErrorContext(command="fix"),
        ),
        "limit-reached": (raised(lambda: _guard(steps=40).check("step 41")), CONTEXT),
        "refused-by-the-sandbox": (
            raised(lambda: resolve_in_checkout(sandbox_root, ".github/workflows/ci.yml", for_write=True)),
            CONTEXT,
        ),
        "already-running": (
            busy_error(
                Job(13, "fix", "octo/repo", 12, "alice", "d-13", "queued"),
                Job(12, "fix", "octo/repo", 12, "bob", "d-12", "running"),
            ),
            ErrorContext(command="fix"),
        ),
        "internal-error": (KeyError("plan"), CONTEXT),
    }


async def _github_unreachable() -> BaseException:
    """What the GitHub client raises when GitHub cannot be reached (a closed port), after its retries."""
    from dataclasses import replace

    from equitr.errors.retry import GITHUB
    from equitr.github.retry import RetryingGitHubAPI
    from tests.conftest import free_port

    async def no_sleep(seconds: float) -> None:
        pass

    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(
            session,
            "equitr",
            base_url=f"http://127.0.0.1:{free_port()}",
            policy=replace(GITHUB, tries=3),
            sleep=no_sleep,
        )
        try:
            await gh.getitem("/repos/octo/repo/issues/12")
        except GitHubError as error:
            return error
    raise AssertionError("GitHub was reachable")


EXAMPLES = examples()


# -- every kind, fully formatted ------------------------------------------------------------------------------


def test_examples_cover_every_kind() -> None:
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("anchor", sorted(KINDS))
def test_each_kind_formats_with_every_part(anchor: str) -> None:
    error, context = EXAMPLES[anchor]
    kind = error_kind(error)
    assert kind.anchor == anchor
    if isinstance(error, EquitrError):  # named where it was raised, not read back out of the message
        assert error.kind == anchor
    text = format_error(error, job_id=17, context=context)
    lines = text.splitlines()
    assert lines[0] == f"### ⚠️ {kind.title}"
    assert lines[1] == "" and lines[2].strip(), "what happened follows the title"
    assert "\n**Suggestions**\n- " in text
    assert "\n**Recovery**\n- `" in text
    assert f"**Documentation** (in equitr's repository): `docs/errors.md#{anchor}`" in text
    assert "](docs/" not in text  # never a relative link: it would resolve against the issue's address
    assert "equitr job 17" in text
    assert suggest_solutions(error, context) and create_recovery_plan(error, context)
    for command in create_recovery_plan(error, context):
        assert command.startswith(("/equitr ", "equitr ")) and "`" not in command


@pytest.mark.parametrize(
    ("anchor", "category"),
    [
        ("invalid-configuration-file", "configuration"),
        ("unknown-model", "configuration"),
        ("missing-setting", "configuration"),
        ("rate-limited", "runtime"),
        ("network-error", "runtime"),
        ("model-unavailable", "runtime"),
        ("timeout", "runtime"),
        ("invalid-parameters", "validation"),
        ("budget-exceeded", "validation"),
        ("internal-error", "internal"),
    ],
)
def test_design_categories(anchor: str, category: str) -> None:
    assert error_kind(EXAMPLES[anchor][0]).category == category


# -- concrete suggestions and commands -----------------------------------------------------------------------


def test_unknown_model_suggests_the_closest_names_and_the_retry() -> None:
    error, context = EXAMPLES["unknown-model"]
    assert isinstance(error, ConfigError) and error.closest[0] == "openai/gpt-4.1-mini"
    assert error.flag == "--model"
    assert "Did you mean `openai/gpt-4.1-mini`" in suggest_solutions(error, context)[0]
    assert create_recovery_plan(error, context)[0] == "/equitr retry --model openai/gpt-4.1-mini"


def test_unknown_worker_model_is_replaced_on_its_own_flag() -> None:
    error = raised(
        lambda: resolve_flags(
            load_default(), budget_usd=None, model="ollama/qwen3:30b", worker_model="anthropic/claude-sonet-4-5"
        )
    )
    context = ErrorContext(flags={"--model": "ollama/qwen3:30b", "--worker-model": "anthropic/claude-sonet-4-5"})
    assert create_recovery_plan(error, context)[0] == (
        "/equitr retry --model ollama/qwen3:30b --worker-model anthropic/claude-sonnet-4-5"
    )


def test_unknown_provider_suggests_the_right_spelling() -> None:
    error = raised(lambda: ModelManager().validate_model("olama/qwen3:30b"))
    assert error_kind(error).anchor == "unknown-model"
    assert create_recovery_plan(error, ErrorContext())[0] == "/equitr retry --model ollama/qwen3:30b"


def test_unknown_model_lists_what_the_repository_allows() -> None:
    error, _ = EXAMPLES["unknown-model"]
    context = ErrorContext(allowed_models=("ollama/*", "openai/gpt-4.1-mini"))
    assert "This repository allows: `ollama/*`, `openai/gpt-4.1-mini`." in suggest_solutions(error, context)


def test_budget_exceeded_names_the_budget_that_would_suffice() -> None:
    error, context = EXAMPLES["budget-exceeded"]
    assert isinstance(error, BudgetExceeded)
    assert "$1.02 should be enough" in suggest_solutions(error, context)[0]
    assert create_recovery_plan(error, context) == ["/equitr retry --budget 1.02", "/equitr plan"]


def test_budget_above_the_flag_maximum_says_how_to_raise_it() -> None:
    error = BudgetExceeded("used up", spent_usd=4.2, budget_usd=4.5)
    context = ErrorContext(budget_usd=4.5, max_budget_usd=5.0, flags={"--budget": "4.50"})
    suggestions = suggest_solutions(error, context)
    assert "$9.00 should be enough" in suggestions[0]
    assert any("`budget.max_flag_usd`" in s for s in suggestions)
    assert create_recovery_plan(error, context)[0] == "/equitr retry --budget 5.00"


def test_budget_at_the_maximum_already_offers_no_useless_retry() -> None:
    error = BudgetExceeded("used up", spent_usd=5.0, budget_usd=5.0)
    plan = create_recovery_plan(error, ErrorContext(max_budget_usd=5.0))
    assert plan == ["/equitr plan"]


def test_budget_suggestion_doubles_what_was_needed() -> None:
    error = BudgetExceeded("stopped", spent_usd=0.3, budget_usd=0.25)
    assert "/equitr retry --budget 0.60" in create_recovery_plan(error, ErrorContext())
    assert error_kind(ValidationError("over budget")).anchor == "invalid-parameters"


def test_flag_above_the_maximum_gives_the_command_within_it() -> None:
    error, context = EXAMPLES["invalid-parameters"]
    assert create_recovery_plan(error, context)[0] == "/equitr retry --budget 5.00"
    assert "docs/configuration.md#budget" in doc_links(error)


def test_model_not_allowed_gives_an_allowed_one() -> None:
    config = parse('[models]\nallowed = ["ollama/*", "openai/gpt-4.1-mini"]\n')
    error = raised(
        lambda: resolve_flags(config, budget_usd=None, model="anthropic/claude-sonnet-4-5", worker_model=None)
    )
    context = ErrorContext.from_command(
        Command("fix", model="anthropic/claude-sonnet-4-5", budget_usd=2.0), config=config
    )
    assert create_recovery_plan(error, context)[0] == "/equitr retry --budget 2.00 --model openai/gpt-4.1-mini"


def test_ollama_down_says_how_to_start_it() -> None:
    error, context = EXAMPLES["model-unavailable"]
    text = format_error(error, context=context)
    assert "`ollama serve`" in text and "OLLAMA_HOST" in text
    assert "`/equitr retry --budget 0.50 --model anthropic/claude-sonnet-4-5`" in text


async def test_a_real_unreachable_model_server_is_model_unavailable() -> None:
    from equitr.models.wire import request_json
    from tests.conftest import free_port

    port = free_port()
    endpoint = Endpoint(label=f"Ollama at http://127.0.0.1:{port}", unreachable_hint=OLLAMA.unreachable_hint)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ModelError) as caught:
            await request_json(session, "GET", f"http://127.0.0.1:{port}/api/tags", endpoint=endpoint, timeout_s=2)
    assert error_kind(caught.value).anchor == "model-unavailable"
    assert "`ollama serve`" in format_error(caught.value)


def test_ollama_without_a_hint_still_gets_the_advice() -> None:
    error = ModelError("Ollama at http://127.0.0.1:11434 failed with HTTP 500 (model runner crashed).", status=500)
    assert any("`ollama serve`" in s for s in suggest_solutions(error))


def test_rate_limit_says_how_long_to_wait() -> None:
    error, context = EXAMPLES["rate-limited"]
    assert suggest_solutions(error, context)[0] == "Wait about 20 s before retrying; the provider said so."
    github = GitHubError("GitHub API rate limit exceeded for installation", status=403, kind="rate-limited")
    assert error_kind(github).anchor == "rate-limited"
    assert error_kind(gidgethub.RateLimitExceeded(_rate_limit())).anchor == "rate-limited"


def _rate_limit() -> object:
    from gidgethub.sansio import RateLimit

    return RateLimit(limit=5000, remaining=0, reset_epoch=0)


def test_limit_reached_names_the_key_to_raise() -> None:
    error, context = EXAMPLES["limit-reached"]
    assert "Raise `limits.max_steps` in `.equitr.toml` on the default branch." in suggest_solutions(error, context)
    timed = LimitReached("time", limit="time")
    assert any("`limits.max_minutes`" in s for s in suggest_solutions(timed))


def test_invalid_command_suggests_the_right_one() -> None:
    error, context = EXAMPLES["invalid-command"]
    assert create_recovery_plan(error, context) == ["/equitr fix", "/equitr help"]
    assert suggest_solutions(error, context)[0].startswith("Did you mean `/equitr fix`? Usage: `/equitr fix [--budget")
    flag = raised(lambda: parse_command("/equitr fix --budgt 2"))
    assert isinstance(flag, CommandError)
    assert "Did you mean `--budget`?" in suggest_solutions(flag)
    assert create_recovery_plan(flag) == ["/equitr help"]


def test_a_mention_in_an_error_does_not_ping() -> None:
    text = format_error(ConfigError("@mallory's model server is not configured."), context=ErrorContext())
    assert "@mallory" not in text and "@\u200bmallory" in text


def test_github_error_advice_by_status() -> None:
    assert "permission" in suggest_solutions(GitHubError("Forbidden", status=403))[-1]
    assert "not installed" in suggest_solutions(gidgethub.BadRequest(http.HTTPStatus(404)))[-1]
    assert "githubstatus.com" in suggest_solutions(GitHubError("Bad gateway", status=502))[-1]
    assert format_error(EXAMPLES["github-error"][0]).splitlines()[2] == (
        "GitHub answered HTTP 422: Reference already exists."
    )


@pytest.mark.parametrize(
    ("error", "anchor"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ClientConnectionError("boom"), "network-error"),
        (ConnectionResetError(), "network-error"),
        (gidgethub.GitHubBroken(http.HTTPStatus(502)), "github-error"),
        (ToolError("`path` is required."), "invalid-parameters"),
        (SandboxError("Cannot run commands: bubblewrap (`bwrap`) is not installed."), "refused-by-the-sandbox"),
        (EquitrError("something"), "job-failed"),
        (ModelError("x", status=403), "model-credentials"),
        (ModelError("x", status=404), "model-not-found"),
        (ModelError("x", status=400), "model-request-rejected"),
        (ModelError("x", status=422), "model-request-rejected"),
        (ModelError("x", status=413), "model-request-rejected"),
        (ModelError("x", status=502, retryable=True), "model-unavailable"),
        (ModelError("Cannot reach Ollama at http://127.0.0.1:11434: refused", retryable=True), "model-unavailable"),
        (ModelError("x", status=408), "timeout"),
        (ModelError("OpenAI refused: the quota is used up.", status=429, kind="quota-used-up"), "quota-used-up"),
        (ValueError("x"), "internal-error"),
        (KeyboardInterrupt(), "internal-error"),
        (MonthlyBudgetExceeded("m", spent_usd=1, budget_usd=1), "monthly-budget-used-up"),
    ],
)
def test_classification(error: BaseException, anchor: str) -> None:
    assert error_kind(error).anchor == anchor
    assert format_error(error).startswith(f"### ⚠️ {KINDS[anchor].title}\n")


def test_context_from_a_command_and_configuration() -> None:
    config = parse('[budget]\nmax_flag_usd = 8\n[models]\nfallback = "ollama/qwen3:30b"\n')
    command = Command("fix", budget_usd=3.0, model="openai/gpt-4.1-mini")
    effective = resolve_flags(config, budget_usd=3.0, model="openai/gpt-4.1-mini", worker_model=None)
    context = ErrorContext.from_command(command, repo="octo/repo", config=config, effective=effective, spent_usd=0.1)
    assert context.flags == {"--budget": "3.00", "--model": "openai/gpt-4.1-mini"}
    assert (context.budget_usd, context.max_budget_usd, context.fallback_model) == (3.0, 8.0, "ollama/qwen3:30b")
    assert context.supervisor_model == "openai/gpt-4.1-mini" and context.command == "fix"


def test_docs_url_makes_links_absolute() -> None:
    text = format_error(KeyError("x"), context=ErrorContext(docs_url="https://example.org/equitr/blob/main/"))
    assert "[docs/errors.md#internal-error](https://example.org/equitr/blob/main/docs/errors.md#internal-error)" in text


# -- nothing private leaves ---------------------------------------------------------------------------------

GHS = "ghs_" + "A1b2C3d4" * 62 + "xyzw"  # the ~520-character installation token format
SK = "sk-proj-" + "Zy9" * 20
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7canary\nabc123==\n-----END RSA PRIVATE KEY-----"
REGISTERED = "plain-canary-value-7f3a9c"  # no known format: only the exact-value net catches it


@pytest.fixture
def registered() -> object:
    redact_module.register(REGISTERED)
    yield
    with redact_module._lock:
        redact_module._known.discard(REGISTERED)


CANARIES = (GHS, SK, PEM, REGISTERED)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("anchor", sorted(KINDS))
def test_canaries_never_appear(anchor: str) -> None:
    assert len(GHS) >= 500
    error, _ = examples()[anchor]
    leaky = f"failed with {GHS} and {SK} and {REGISTERED}\n{PEM}"
    planted: BaseException
    if isinstance(error, EquitrError):
        error.message = f"{error.message} {leaky}"
        error.hint = f"{error.hint or ''} {leaky}"
        planted = error
    else:
        planted = (
            type(error)(leaky)
            if not isinstance(error, gidgethub.HTTPException)
            else gidgethub.BadRequest(http.HTTPStatus(422), leaky)
        )
    context = ErrorContext(
        command="fix",
        flags={"--model": f"openai/{REGISTERED}", "--budget": "0.50"},
        fallback_model=f"ollama/{SK}",
        repo="octo/repo",
        allowed_models=(GHS,),
    )
    text = format_error(planted, job_id=REGISTERED, context=context)
    for canary in CANARIES:
        assert canary not in text
    for fragment in ("A1b2C3d4A1b2", "Zy9Zy9Zy9", "MIIEowIBAAKCAQEA7canary", "7f3a9c", "BEGIN RSA PRIVATE KEY"):
        assert fragment not in text, fragment


LONG_SECRET = "Q" * 70 + "-unformatted-secret-" + "R" * 70  # longer than any shortened value


@pytest.fixture
def long_secret() -> object:
    redact_module.register(LONG_SECRET)
    yield
    with redact_module._lock:
        redact_module._known.discard(LONG_SECRET)


@pytest.mark.usefixtures("long_secret")
def test_secrets_are_redacted_before_values_are_shortened() -> None:
    config_error = raised(lambda: parse(f'[fix]\ndraft_pr = "{LONG_SECRET}"\n'))
    assert isinstance(config_error, RepoConfigError)
    assert config_error.problems[0].value == '"[redacted]"'
    runtime = RuntimeFailure("x" * 790 + LONG_SECRET)
    for text in (format_error(config_error), format_error(runtime)):
        assert "QQQQQQQQ" not in text and "unformatted-secret" not in text


@pytest.mark.usefixtures("registered")
def test_problem_values_from_a_config_file_are_redacted() -> None:
    error = raised(
        lambda: parse(f'[fix]\ndraft_pr = "{REGISTERED}"\n[review]\nmax_files = "{GHS}"\n[budget]\nkey = "{SK}"')
    )
    assert isinstance(error, RepoConfigError)
    assert sorted(p.key for p in error.problems) == ["budget.key", "fix.draft_pr", "review.max_files"]
    text = format_error(error)
    assert text.count('(found `"[redacted]"`)') == 3
    for canary in (GHS, SK, REGISTERED):
        assert canary not in text


TRACEBACK = """Traceback (most recent call last):
  File "/srv/equitr/.venv/lib/python3.11/site-packages/aiohttp/client.py", line 1187, in _request
    conn = await self._connector.connect(req, traces=traces, timeout=real_timeout)
  File "/srv/equitr/bot/models/ollama.py", line 88, in chat
    raise ModelError(message)
equitr.errors.ModelError: upstream exploded"""


@pytest.mark.parametrize("anchor", sorted(KINDS))
def test_no_traceback_or_stack_path_in_any_output(anchor: str) -> None:
    error, context = examples()[anchor]
    if isinstance(error, EquitrError):
        chained = "During handling of the above exception, another exception occurred:"
        error.message = f"The model server failed.\n{TRACEBACK}\n{chained}\n{TRACEBACK}"
        error.hint = (
            'see File "/srv/equitr/bot/runner.py", line 12, in run\n    job()\nand /srv/equitr/bot/agent/loop.py:301'
        )
    else:
        error = (
            type(error)(TRACEBACK)
            if not isinstance(error, gidgethub.HTTPException)
            else gidgethub.BadRequest(http.HTTPStatus(422), TRACEBACK)
        )
    text = format_error(error, job_id=1, context=context)
    for leak in (
        "Traceback",
        "most recent call",
        'File "',
        "/srv/equitr",
        "site-packages",
        "line 1187",
        "conn = await",
        "upstream exploded",
        "During handling",
    ):
        assert leak not in text, (leak, text)


def test_message_around_a_traceback_is_kept() -> None:
    error = RuntimeFailure(f"The model server failed.\n{TRACEBACK}\nRetry later.")
    text = format_error(error)
    assert "The model server failed. Retry later." in text
    assert "runner.py" in format_error(RuntimeFailure("failed in /srv/equitr/bot/runner.py:12"))
    assert "/srv/equitr" not in format_error(RuntimeFailure("failed in /srv/equitr/bot/runner.py:12"))


def test_internal_error_shows_only_the_class_name() -> None:
    error = KeyError(f"user secret data {REGISTERED} /srv/x.py")
    text = format_error(error, job_id=99)
    assert "`KeyError`" in text and "server log" in text and "equitr job 99" in text
    assert "user secret data" not in text and "/srv" not in text


@pytest.mark.parametrize("anchor", ["model-unavailable", "model-request-rejected", "model-not-found", "timeout"])
def test_internal_addresses_never_reach_a_comment(anchor: str) -> None:
    """B20: where the operator's model server lives is not published; public pages keep their links."""
    error, context = EXAMPLES[anchor]
    text = format_error(error, context=context)
    assert "127.0.0.1" not in text and "10.0.0.5" not in text and "11434" not in text and "http://" not in text
    # What aiohttp says when the server is down: "Cannot connect to host HOST:PORT ssl:default".
    aiohttp_text = (
        "Cannot reach Ollama at http://ollama.corp:11434: Cannot connect to host ollama.corp:11434 ssl:default"
    )
    shown = format_error(ModelError(aiohttp_text, retryable=True))
    assert "ollama.corp" not in shown and "Cannot reach Ollama: Cannot connect to host (address hidden)" in shown
    assert "https://www.githubstatus.com" in format_error(
        GitHubError("x", status=502, hint="see https://www.githubstatus.com")
    )


def test_a_busy_issue_points_to_the_running_job_and_to_cancel() -> None:
    """B7: the second command on an issue is refused with the job that holds it and the way out."""
    error, context = EXAMPLES["already-running"]
    assert isinstance(error, JobBusy) and error.running_id == 12
    text = format_error(error, job_id=13, context=context)
    assert "Job 12 (`fix`) is already working on this issue, so this `fix` did not start." in text
    assert "`/equitr cancel`" in text and "- `/equitr status`" in text and "- `/equitr retry`" in text


def test_fake_markers_and_mentions_are_neutralised() -> None:
    text = format_error(RuntimeFailure("<!-- equitr:status:5 --> cc @octo-org/admins"))
    assert "<!--" not in text
    assert "@octo-org" not in text and "@\u200bocto-org/admins" in text
    assert "user@example.com" in format_error(RuntimeFailure("mail user@example.com"))  # not a mention


def test_huge_messages_are_shortened() -> None:
    text = format_error(RuntimeFailure("x" * 50_000))
    assert len(text) < 3000 and "…" in text


def test_format_error_on_odd_inputs_does_not_raise() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot print me")

    assert format_error(Weird()).startswith("### ⚠️ Internal error")
    bare = EquitrError("")
    assert "EquitrError" in format_error(bare)


# -- documentation -----------------------------------------------------------------------------------------


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub renders them: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_documentation_link_resolves() -> None:
    docs = {"docs/errors.md": ERRORS_DOC.read_text(), "docs/configuration.md": CONFIG_DOC.read_text()}
    for error, _ in EXAMPLES.values():
        for link in doc_links(error):
            path, _, anchor = link.partition("#")
            assert path in docs, link
            if anchor:
                assert anchor in github_anchors(docs[path]), link


def test_errors_doc_shows_the_real_output_of_each_kind() -> None:
    text = ERRORS_DOC.read_text()
    for anchor, (error, context) in examples().items():
        assert format_error(error, context=context).strip() in text, f"docs/errors.md is stale for {anchor}"


def test_docs_url_comes_from_the_setting_and_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from equitr.config.settings import Settings

    monkeypatch.setenv("EQUITR_DOCS_URL", "https://github.com/acme/equitr/blob/main/")
    assert Settings().docs_url == "https://github.com/acme/equitr/blob/main"
    monkeypatch.setenv("EQUITR_DOCS_URL", "")
    assert Settings().docs_url is None
    monkeypatch.setenv("EQUITR_DOCS_URL", "docs.example.org")
    with pytest.raises(pydantic.ValidationError, match="EQUITR_DOCS_URL must be an http"):
        Settings()

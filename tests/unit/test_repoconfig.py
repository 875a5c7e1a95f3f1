"""`.equitr.toml`: defaults, a full valid file, every kind of problem naming its key, flag bounds, and
reading the file from the default branch of a (fake) GitHub."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import gidgethub.aiohttp
import pytest

from equitr.config import repo as repo_module
from equitr.config.fetch import fetch_config
from equitr.config.flags import month_start, resolve_flags
from equitr.config.problems import Problem
from equitr.config.reference import reference_rows
from equitr.config.repo import RepoConfig, load_default, parse
from equitr.errors import ConfigError, GitHubError, MonthlyBudgetExceeded, RepoConfigError, ValidationError
from equitr.sandbox.policy import ALWAYS_BLOCKED
from tests.fakes.fixtures import fake_github, github_app_key
from tests.fakes.github import FakeGitHub

__all__ = ["fake_github", "github_app_key"]  # fixtures used below

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"

FULL = """
[models]
supervisor = "openai/gpt-4.1-mini"
worker = "ollama/qwen3:30b"
fallback = "anthropic/claude-sonnet-4-5"
allowed = ["ollama/*", "openai/gpt-4.1-mini"]

[budget]
per_job_usd = 2
per_month_usd = 50.0
max_flag_usd = 10.0

[review]
auto = false
on = ["opened", "ready_for_review"]
skip_drafts = false
skip_bots = false
max_files = 20
max_patch_lines = 400

[fix]
draft_pr = false
test_command = "pytest -q tests/unit"
blocked_paths = ["secrets/**", "*.lock"]

[trigger]
label = "ai-fix"

[limits]
max_steps = 60
max_iterations = 2
max_minutes = 45

[schedule]
max_issues_per_run = 3
budget_usd = 4.0

[[schedule.tasks]]
name = "dependency audit"
prompt = "Look for outdated dependencies and open one PR that updates them."
cron = "0  6 * * MON"

[[schedule.tasks]]
name = "docs"
prompt = "Fix broken links in docs/."
"""


def problems(text: str) -> list[Problem]:
    with pytest.raises(RepoConfigError) as caught:
        parse(text)
    return caught.value.problems


def only(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# -- valid files --------------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = load_default()
    assert parse("") == config
    assert (config.budget.per_job_usd, config.budget.per_month_usd, config.budget.max_flag_usd) == (1.0, 20.0, 5.0)
    assert config.review.auto and config.review.skip_drafts and config.review.skip_bots
    assert config.review.on == ["opened", "ready_for_review", "synchronize"]
    assert config.review.max_files == 50
    assert config.fix.draft_pr and config.fix.test_command == "" and config.fix.blocked_paths == []
    assert config.fix.all_blocked_paths == (".github/workflows/**",)
    assert config.trigger.label == "equitr"
    assert (config.limits.max_steps, config.limits.max_iterations, config.limits.max_minutes) == (40, 3, 30.0)
    assert config.models.supervisor is None and config.models.allowed == []
    assert config.schedule.tasks == [] and config.schedule.max_issues_per_run == 5


def test_full_file() -> None:
    config = parse(FULL)
    assert config.models.supervisor == "openai/gpt-4.1-mini"
    assert config.models.worker == "ollama/qwen3:30b"
    assert config.models.fallback == "anthropic/claude-sonnet-4-5"
    assert config.budget.per_job_usd == 2.0 and isinstance(config.budget.per_job_usd, float)
    assert config.review.on == ["opened", "ready_for_review"] and not config.review.auto
    assert config.fix.all_blocked_paths == (".github/workflows/**", "secrets/**", "*.lock")
    assert config.trigger.label == "ai-fix"
    assert config.limits.max_minutes == 45.0
    assert [t.name for t in config.schedule.tasks] == ["dependency audit", "docs"]
    assert config.schedule.tasks[0].cron == "0 6 * * MON"  # whitespace normalised
    assert config.schedule.tasks[1].cron is None


def test_model_names_are_normalised() -> None:
    config = parse('[models]\nsupervisor = "claude/claude-sonnet-4-5"\n')
    assert config.models.supervisor == "anthropic/claude-sonnet-4-5"


def test_always_blocked_is_not_duplicated() -> None:
    config = parse('[fix]\nblocked_paths = [".github/workflows/**", "vendor/**"]\n')
    assert config.fix.all_blocked_paths == (*ALWAYS_BLOCKED, "vendor/**")


def test_config_is_immutable() -> None:
    config = load_default()
    with pytest.raises(Exception, match="frozen"):
        config.budget.per_job_usd = 100


# -- problems name their key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("[budget]\nper_job_usd = -1\n", "budget.per_job_usd", "more than 0 and at most 1000"),
        ("[budget]\nper_job_usd = 5000\n", "budget.per_job_usd", "more than 0 and at most 1000"),
        ("[budget]\nper_job_usd = 0\n", "budget.per_job_usd", "more than 0"),
        ('[budget]\nper_job_usd = "2"\n', "budget.per_job_usd", "a number of US dollars"),
        ("[budget]\nper_month_usd = 0\n", "budget.per_month_usd", "more than 0"),
        ("[budget]\nmax_flag_usd = nan\n", "budget.max_flag_usd", "at most 1000"),
        ('[review]\nauto = "no"\n', "review.auto", "true or false"),
        ("[review]\nmax_files = 0\n", "review.max_files", "between 1 and 1000"),
        ("[review]\nmax_patch_lines = 5\n", "review.max_patch_lines", "between 10 and 20000"),
        ("[limits]\nmax_steps = 40.5\n", "limits.max_steps", "a whole number between 1 and 500"),
        ("[limits]\nmax_iterations = 99\n", "limits.max_iterations", "between 1 and 20"),
        ("[limits]\nmax_minutes = 1000\n", "limits.max_minutes", "at most 360"),
        ('[trigger]\nlabel = ""\n', "trigger.label", "1 to 50 characters"),
        (f'[trigger]\nlabel = "{"x" * 51}"\n', "trigger.label", "1 to 50 characters"),
        ("[fix]\ntest_command = 1\n", "fix.test_command", "a command line"),
        ("[schedule]\nmax_issues_per_run = -1\n", "schedule.max_issues_per_run", "between 0 and 100"),
        ("[schedule]\ntasks = 3\n", "schedule.tasks", "[[schedule.tasks]]"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(text: str, key: str, allowed: str) -> None:
    problem = only(text)
    assert problem.key == key
    assert problem.allowed is not None and allowed in problem.allowed
    assert problem.value is not None
    assert f"`{key}`" in str(problem)


def test_enum_lists_the_choices() -> None:
    problem = only('[review]\non = ["opened", "opend"]\n')
    assert problem.key == "review.on[1]"
    assert problem.value == '"opend"'
    assert problem.allowed == 'one of "opened", "ready_for_review" or "synchronize"'


def test_unknown_key_suggests_the_closest_and_lists_the_section() -> None:
    problem = only("[budget]\nper_jb_usd = 2\n")
    assert problem.key == "budget.per_jb_usd"
    assert problem.closest == "budget.per_job_usd"
    assert problem.allowed is not None
    for key in ("per_job_usd", "per_month_usd", "max_flag_usd"):
        assert key in problem.allowed
    assert "Did you mean `budget.per_job_usd`?" in str(problem)


def test_unknown_key_without_a_close_one() -> None:
    problem = only("[review]\nzzzzqqq = 1\n")
    assert problem.closest is None
    assert problem.allowed is not None and "skip_drafts" in problem.allowed


def test_unknown_section_suggests_the_closest() -> None:
    problem = only("[buget]\nper_job_usd = 2\n")
    assert problem.key == "buget"
    assert problem.closest == "budget"
    assert problem.allowed is not None and "models, budget, review, fix, trigger, limits, schedule" in problem.allowed


def test_top_level_key_outside_any_section() -> None:
    problem = only("label = 'equitr'\n")
    assert problem.key == "label" and "not a section" in problem.message


def test_a_section_that_is_not_a_table() -> None:
    problem = only("budget = 5\n")
    assert (problem.key, problem.message, problem.value) == ("budget", "must be a table", "5")


def test_branch_prefix_is_explained_not_just_unknown() -> None:
    problem = only('[fix]\nbranch_prefix = "bot/"\n')
    assert problem.key == "fix.branch_prefix"
    assert "equitr/" in problem.message and "cannot be changed" in problem.message


def test_unknown_model_suggests_close_names() -> None:
    problem = only('[models]\nworker = "openai/gpt-4.1-mni"\n')
    assert problem.key == "models.worker"
    assert problem.message == "is not a model equitr knows"
    assert problem.suggestion is not None and "openai/gpt-4.1-mini" in problem.suggestion


def test_bad_model_shape_and_provider() -> None:
    assert only('[models]\nsupervisor = "gpt-4"\n').key == "models.supervisor"
    problem = only('[models]\nfallback = "olama/qwen3:30b"\n')
    assert problem.suggestion is not None and "ollama/qwen3:30b" in problem.suggestion


def test_allowed_entries_point_at_the_bad_index() -> None:
    found = problems('[models]\nallowed = ["ollama/*", "olama/*", "openai/gpt-4.1-mni"]\n')
    assert [p.key for p in found] == ["models.allowed[1]", "models.allowed[2]"]
    assert found[0].suggestion is not None and "ollama" in found[0].suggestion


@pytest.mark.parametrize("pattern", ["/etc/**", "../outside", "a/../../b", " "])
def test_blocked_paths_must_be_relative(pattern: str) -> None:
    problem = only(f'[fix]\nblocked_paths = ["ok/**", "{pattern}"]\n')
    assert problem.key == "fix.blocked_paths[1]"
    assert "relative" in problem.message


@pytest.mark.parametrize(("pattern", "meaning"), [("!keep.txt", "a negation"), ("#notes", "a comment")])
def test_blocked_paths_that_gitignore_would_ignore_are_refused(pattern: str, meaning: str) -> None:
    problem = only(f'[fix]\nblocked_paths = ["{pattern}"]\n')
    assert problem.key == "fix.blocked_paths[0]"
    assert meaning in problem.message and f"`\\{pattern}`" in problem.message


def test_allow_ci_paths_accepts_ci_paths_and_paths_under_them() -> None:
    allowed = ["conftest.py", "tests/conftest.py", ".github/dependabot.yml", ".github/ISSUE_TEMPLATE/**", "Makefile"]
    config = parse(f"[fix]\nallow_ci_paths = {json.dumps(allowed)}\n")
    effective = resolve_flags(config, budget_usd=None, model=None, worker_model=None)
    assert effective.allow_ci_paths == tuple(allowed)
    assert effective.write_policy().allow_ci == tuple(allowed)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (".github/workflows/ci.yml", "is under `.github/workflows`, which is always blocked"),
        (".github/workflows/**", "is under `.github/workflows`, which is always blocked"),
        ("src/**", "is not one of the CI paths equitr blocks by default"),
        ("*.py", "is not one of the CI paths equitr blocks by default"),
    ],
)
def test_allow_ci_paths_refuses_what_it_cannot_allow(pattern: str, message: str) -> None:
    problem = only(f'[fix]\nallow_ci_paths = ["{pattern}"]\n')
    assert problem.key == "fix.allow_ci_paths[0]"
    assert message in problem.message
    assert problem.allowed is not None and "CI paths blocked by default" in problem.allowed


@pytest.mark.parametrize("cron", ["* * *", "every day", "0 6 * * * *", "61x * * * *"])
def test_bad_cron(cron: str) -> None:
    problem = only(f'[[schedule.tasks]]\nname = "a"\nprompt = "p"\ncron = "{cron}"\n')
    assert problem.key == "schedule.tasks[0].cron"
    assert problem.allowed is not None and "cron" in problem.allowed


@pytest.mark.parametrize("cron", ["0 6 * * 1", "*/15 * * * *", "0 0 1,15 * MON-FRI", "30 2 * JAN-MAR *"])
def test_good_cron(cron: str) -> None:
    config = parse(f'[[schedule.tasks]]\nname = "a"\nprompt = "p"\ncron = "{cron}"\n')
    assert config.schedule.tasks[0].cron == cron


def test_task_missing_fields_and_duplicates() -> None:
    missing = only('[[schedule.tasks]]\nname = "a"\n')
    assert (missing.key, missing.message) == ("schedule.tasks[0].prompt", "is required")
    duplicate = only('[[schedule.tasks]]\nname = "a"\nprompt = "p"\n[[schedule.tasks]]\nname = "a"\nprompt = "q"\n')
    assert duplicate.key == "schedule.tasks[1].name" and "earlier task" in duplicate.message


def test_unknown_key_inside_a_task() -> None:
    problem = only('[[schedule.tasks]]\nname = "a"\nprompt = "p"\nschedule = "daily"\n')
    assert problem.key == "schedule.tasks[0].schedule"
    assert problem.allowed is not None and "name, prompt, cron" in problem.allowed


def test_cross_checks_name_the_key_to_change() -> None:
    problem = only("[budget]\nper_job_usd = 8\nmax_flag_usd = 5\n")
    assert problem.key == "budget.max_flag_usd" and "per_job_usd" in problem.message
    assert problem.message == "is below `budget.per_job_usd` (8), so a `--budget` could only lower it"
    assert (problem.value, problem.allowed) == ("5.0", "a number at least `budget.per_job_usd` (8)")
    problem = only("[budget]\nper_job_usd = 30\nmax_flag_usd = 40\n")
    assert problem.key == "budget.per_job_usd" and "per_month_usd" in problem.message
    assert problem.message == "is above `budget.per_month_usd` (20), so no job could ever use it"
    assert (problem.value, problem.allowed) == ("30.0", "a number at most `budget.per_month_usd` (20)")
    assert parse("[budget]\nper_job_usd = 5\nmax_flag_usd = 5\nper_month_usd = 5\n").budget.per_job_usd == 5


def test_every_problem_is_reported_at_once() -> None:
    found = problems("[budget]\nper_job_usd = -1\nper_jb = 1\n[review]\nauto = 3\n[limits]\nmax_steps = 0\n[bogus]\n")
    assert sorted(p.key for p in found) == sorted(
        ["budget.per_job_usd", "budget.per_jb", "review.auto", "limits.max_steps", "bogus"]
    )


def test_error_message_is_a_summary_without_a_traceback() -> None:
    with pytest.raises(RepoConfigError) as caught:
        parse("[budget]\nper_job_usd = -1\n[revew]\n")
    error = caught.value
    assert isinstance(error, ConfigError) and error.category == "configuration"
    assert error.message.startswith(".equitr.toml has 2 problems: ")
    assert "`budget.per_job_usd`" in error.message and "`revew`" in error.message
    assert "Traceback" not in error.message and "pydantic" not in error.message.lower()
    assert error.__cause__ is None and error.__suppress_context__


# -- TOML syntax ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("[budget]\nper_job_usd = \n", 2, 15),
        ("[budget\nper_job_usd = 1\n", 1, 8),
        ("[budget]\nper_job_usd = 1\nper_job_usd = 2\n", 3, None),
        ('[fix]\ntest_command = "pytest\n', 2, None),
    ],
)
def test_syntax_errors_give_line_and_column(text: str, line: int, column: int | None) -> None:
    problem = only(text)
    assert problem.key == ""
    assert problem.message.startswith("TOML syntax error: ")
    assert problem.line == line
    if column is not None:
        assert problem.column == column
    assert f"(line {line}" in str(problem)
    assert "Traceback" not in str(problem)


def test_syntax_error_at_end_of_file() -> None:
    problem = only("[budget]\nper_job_usd =")
    assert problem.line == 2 and "end of the file" in problem.message


def test_too_large() -> None:
    problem = only("# " + "x" * (300 * 1024))
    assert "larger than" in problem.message


def test_long_values_are_shortened() -> None:
    problem = only(f'[trigger]\nlabel = "{"y" * 400}"\n')
    assert problem.value is not None and len(problem.value) <= 80 and problem.value.endswith("…")


# -- flags --------------------------------------------------------------------------------------------------


def test_no_flags_uses_the_configuration() -> None:
    config = parse(FULL)
    settings = resolve_flags(config, budget_usd=None, model=None, worker_model=None)
    assert settings.budget_usd == 2.0
    assert settings.supervisor_model == "openai/gpt-4.1-mini"
    assert settings.worker_model == "ollama/qwen3:30b"
    assert settings.fallback_model == "anthropic/claude-sonnet-4-5"
    assert settings.test_command == "pytest -q tests/unit"
    assert settings.blocked_paths[0] == ".github/workflows/**"
    limits = settings.limits()
    assert (limits.max_steps, limits.max_iterations, limits.max_wall_s, limits.budget_usd) == (60, 2, 2700.0, 2.0)


def test_flags_within_bounds() -> None:
    config = parse(FULL)
    settings = resolve_flags(config, budget_usd=10.0, model="ollama/llama3.2", worker_model="openai/gpt-4.1-mini")
    assert settings.budget_usd == 10.0
    assert settings.supervisor_model == "ollama/llama3.2"  # matches the `ollama/*` pattern
    assert settings.worker_model == "openai/gpt-4.1-mini"


def test_budget_above_the_maximum_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve_flags(load_default(), budget_usd=7.5, model=None, worker_model=None)
    assert "$5.00" in caught.value.message and "--budget 7.50" in caught.value.message
    assert caught.value.hint is not None and "budget.max_flag_usd" in caught.value.hint


def test_budget_at_the_maximum_is_accepted() -> None:
    assert resolve_flags(load_default(), budget_usd=5.0, model=None, worker_model=None).budget_usd == 5.0


def test_model_not_allowed_lists_the_allowed_ones() -> None:
    config = parse('[models]\nallowed = ["ollama/qwen3:30b", "openai/gpt-4.1-mini"]\n')
    with pytest.raises(ValidationError) as caught:
        resolve_flags(config, budget_usd=None, model="anthropic/claude-sonnet-4-5", worker_model=None)
    assert "--model anthropic/claude-sonnet-4-5" in caught.value.message
    assert caught.value.hint is not None
    assert "`ollama/qwen3:30b`" in caught.value.hint and "`openai/gpt-4.1-mini`" in caught.value.hint
    with pytest.raises(ValidationError, match="--worker-model"):
        resolve_flags(config, budget_usd=None, model=None, worker_model="ollama/llama3.2")


def test_empty_allowed_accepts_any_valid_model() -> None:
    settings = resolve_flags(load_default(), budget_usd=None, model="anthropic/claude-sonnet-4-5", worker_model=None)
    assert settings.supervisor_model == "anthropic/claude-sonnet-4-5"


def test_unknown_model_flag_gives_the_closest_names() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_flags(load_default(), budget_usd=None, model="openai/gpt-4.1-mni", worker_model=None)
    assert caught.value.hint is not None and "openai/gpt-4.1-mini" in caught.value.hint


def test_month_budget_caps_and_refuses() -> None:
    config = load_default()  # 1.00 per job, 20.00 per month
    assert resolve_flags(config, budget_usd=None, model=None, worker_model=None, month_spent_usd=19.5).budget_usd == 0.5
    assert resolve_flags(config, budget_usd=None, model=None, worker_model=None, month_spent_usd=3).budget_usd == 1.0
    with pytest.raises(MonthlyBudgetExceeded) as caught:
        resolve_flags(config, budget_usd=None, model=None, worker_model=None, month_spent_usd=20.0)
    assert caught.value.spent_usd == 20.0 and caught.value.budget_usd == 20.0
    assert caught.value.hint is not None and "budget.per_month_usd" in caught.value.hint


def test_the_month_starts_on_the_1st_at_midnight_utc() -> None:
    # 2026-03-31 23:33 UTC: already April in UTC+1, still March in UTC.
    assert month_start(1_774_999_980) == 1_772_323_200  # 2026-03-01 00:00 UTC
    assert month_start(1_772_323_200) == 1_772_323_200  # the first second of the month is in it
    assert month_start(1_772_323_199) == 1_769_904_000  # the second before it is February's
    assert month_start() <= time.time()


# -- the reference and its documentation -------------------------------------------------------------------


def test_every_key_is_documented_with_its_default() -> None:
    text = DOCS.read_text()
    rows = reference_rows()
    assert {r.key.split(".")[0] for r in rows} == set(RepoConfig.model_fields)
    for row in rows:
        line = next((ln for ln in text.splitlines() if ln.startswith(f"| `{row.key}` ")), None)
        assert line is not None, f"{row.key} is missing from docs/configuration.md"
        assert f"`{row.default}`" in line or row.default in line, (row.key, row.default, line)


def test_documented_example_is_valid() -> None:
    text = DOCS.read_text()
    examples = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert examples, "docs/configuration.md has no ```toml example"
    for example in examples:
        if "# invalid" not in example:
            parse(example)


def test_documented_error_output_is_current() -> None:
    """The bad-config output shown in the docs is what the code prints now."""
    text = DOCS.read_text()
    bad = re.search(r"```toml\n(# invalid.*?)```", text, re.DOTALL)
    assert bad is not None
    from equitr.errors.render import format_error

    with pytest.raises(RepoConfigError) as caught:
        parse(bad.group(1))
    assert format_error(caught.value).strip() in text


# -- reading from GitHub ------------------------------------------------------------------------------------

TOKEN = "ghp_repoconfigtesttoken"


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[gidgethub.aiohttp.GitHubAPI]:
    fake_github.add_token(TOKEN)
    async with aiohttp.ClientSession() as session:
        yield gidgethub.aiohttp.GitHubAPI(session, "equitr-tests", oauth_token=TOKEN, base_url=fake_github.base_url)


async def test_fetch_reads_the_default_branch_only(fake_github: FakeGitHub, gh: gidgethub.aiohttp.GitHubAPI) -> None:
    fake_github.add_repo("octo/repo", default_branch="trunk", files={".equitr.toml": "[budget]\nper_job_usd = 2\n"})
    fake_github.set_branch("octo/repo", "feature", "f" * 40)
    fake_github.set_file(
        "octo/repo", ".equitr.toml", "[budget]\nper_job_usd = 900\nmax_flag_usd = 1000\n", branch="feature"
    )
    config = await fetch_config(gh, "octo/repo", "trunk")
    assert config.budget.per_job_usd == 2.0
    (call,) = fake_github.calls_for("repos/get-content")
    assert call.path == "/repos/octo/repo/contents/.equitr.toml"
    assert call.query == {"ref": "trunk"}


async def test_fetch_without_a_file_gives_defaults(fake_github: FakeGitHub, gh: gidgethub.aiohttp.GitHubAPI) -> None:
    fake_github.add_repo("octo/empty")
    assert await fetch_config(gh, "octo/empty", "main") == load_default()


async def test_fetch_of_a_bad_file_raises_the_problems(
    fake_github: FakeGitHub, gh: gidgethub.aiohttp.GitHubAPI
) -> None:
    fake_github.add_repo("octo/bad", files={".equitr.toml": "[budget]\nper_jb = 1\n"})
    with pytest.raises(RepoConfigError) as caught:
        await fetch_config(gh, "octo/bad", "main")
    assert caught.value.problems[0].closest == "budget.per_job_usd"


async def test_fetch_refused_is_a_github_error(fake_github: FakeGitHub, gh: gidgethub.aiohttp.GitHubAPI) -> None:
    fake_github.add_repo("octo/private")
    fake_github.fail_next(
        "GET", "/repos/octo/private/contents/.equitr.toml", status=403, body={"message": "Resource not accessible"}
    )
    with pytest.raises(GitHubError) as caught:
        await fetch_config(gh, "octo/private", "main")
    assert caught.value.status == 403 and "Contents: read" in (caught.value.hint or "")


class _Canned:
    """A GitHubAPI stand-in answering one URL, for payload shapes the fake server does not produce."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.urls: list[str] = []

    async def getitem(self, url: str) -> object:
        self.urls.append(url)
        return self.answer


async def test_fetch_quotes_the_branch_name() -> None:
    gh = _Canned({"type": "file", "encoding": "base64", "content": base64.b64encode(b"").decode()})
    await fetch_config(gh, "octo/repo", "release/1.x")  # type: ignore[arg-type]
    assert gh.urls == ["/repos/octo/repo/contents/.equitr.toml?ref=release%2F1.x"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([{"type": "file"}], "is not a file"),
        ({"type": "dir"}, "is not a file"),
        ({"type": "file", "encoding": "none", "content": ""}, "larger than"),
        ({"type": "file", "encoding": "base64", "content": base64.b64encode(b"\xff\xfe").decode()}, "UTF-8"),
    ],
)
async def test_fetch_odd_answers(answer: object, message: str) -> None:
    with pytest.raises(RepoConfigError) as caught:
        await fetch_config(_Canned(answer), "octo/repo", "main")  # type: ignore[arg-type]
    assert message in caught.value.problems[0].message


def test_module_docstring_lists_every_section() -> None:
    doc = repo_module.__doc__ or ""
    for section in RepoConfig.model_fields:
        assert f"[{section}]" in doc


def test_config_imports_nothing_above_it() -> None:
    """Configuration sits below the agent, the workspace and the model manager (review §1.3): it gives them
    `Limits`, `BRANCH_PREFIX` and `validate_model` rather than reading them from there."""
    import ast

    above = ("equitr.agent", "equitr.sandbox.workspace", "equitr.models.manager", "equitr.handlers", "equitr.tools")
    package = Path(__file__).resolve().parents[2] / "bot" / "config"
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name}: {n}" for n in names if n.startswith(above)]
    assert found == []

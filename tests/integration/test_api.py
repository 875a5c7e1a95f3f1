"""The Python API (bot/local/api.py) on a real git repository with a deterministic scripted model: `fix` works on a
copy and hands back a branch, never touching the caller's working tree; the result carries the diff, the
tests before and after, the cost per model and role, the repairs and the trajectory; progress arrives as
callbacks and as an async iterator; `equitr.sync` runs it without an event loop; `plan`, `ask`, `review`
and `interpret` do what their commands do."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import equitr
import equitr.sync
from equitr.config.settings import Settings
from equitr.errors import ConfigError
from equitr.local import api
from equitr.local.api import split_diff
from equitr.sandbox import binaries
from equitr.sandbox.gitsafe import AUTHOR_EMAIL, AUTHOR_NAME
from tests.conftest import make_repo
from tests.fakes.scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
PLAN = json.dumps(
    {
        "execution_steps": [
            {"step": 1, "tool": "search", "parameters": {"query": "def mean"}, "dependencies": []},
            {"step": 2, "tool": "file", "parameters": {"action": "edit", "path": "mathutil.py"}, "dependencies": [1]},
        ]
    }
)
WORKER = (
    "<<<<<<< SEARCH\n    return sum(values) / (len(values) + 1)\n=======\n"
    "    return sum(values) / len(values)\n>>>>>>> REPLACE"
)
ACCEPT = '{"decision": "accept", "reason": "fixed the divisor"}'
TASK = "mean() is off by one; fix it"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if binaries.bwrap().path is not None else "none"
    )


def snapshot(repo: Path) -> tuple[str, str, str, dict[str, str]]:
    """Everything of the caller's repository that `fix` must leave alone."""
    files = {p.name: p.read_text() for p in sorted(repo.iterdir()) if p.is_file()}
    return git(repo, "rev-parse", "HEAD"), git(repo, "symbolic-ref", "HEAD"), git(repo, "status", "--porcelain"), files


async def test_fix_works_on_a_copy_and_returns_everything(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    (repo / "notes.txt").write_text("uncommitted work of the caller\n")  # a dirty tree stays as it is
    (repo / "README.md").write_text("# edited, not committed\n")
    before = snapshot(repo)
    events: list[equitr.Event] = []

    result = await equitr.fix(
        repo,
        TASK,
        model="openai/gpt-4.1-mini",
        worker_model="ollama/qwen3:30b",
        budget_usd=0.5,
        on_event=events.append,
        settings=settings,
        chat_model=ScriptedModel([PLAN, WORKER, ACCEPT], cost_per_call=0.001),
    )

    assert snapshot(repo) == before  # HEAD, current branch, status, every file: untouched
    assert result.status == "accepted" and result.accepted, result.reason
    assert result.branch == "equitr/mean-is-off-by-one-fix-it"
    assert git(repo, "rev-parse", result.branch) != before[0]
    assert "+    return sum(values) / len(values)" in result.diff
    assert "+    return sum(values) / len(values)" in git(repo, "diff", f"HEAD...{result.branch}")
    by = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", result.branch).strip()
    assert by == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>|{AUTHOR_NAME} <{AUTHOR_EMAIL}>"  # as the git tool commits
    assert result.tests_before is not None and result.tests_before.summary.startswith("1 failed, 1 passed")
    assert result.tests_after is not None and result.tests_after.ok
    assert result.commit == before[0].strip() and result.test_command
    rows = {(row.model, row.role): row for row in result.cost.rows}
    assert set(rows) == {("openai/gpt-4.1-mini", "supervisor"), ("ollama/qwen3:30b", "worker")}
    assert rows[("openai/gpt-4.1-mini", "supervisor")].calls == 2
    assert result.cost.total_usd == pytest.approx(0.003) and result.cost.budget_usd == 0.5
    assert "openai/gpt-4.1-mini  supervisor" in result.cost_table()
    assert result.repairs.fallback_plans == 0 and "Interpretation layer" in str(result.repairs)
    assert [s.tool for s in result.plan] == ["search", "file"]
    assert any(entry.actor == "worker" for entry in result.trajectory)
    kinds = [e.kind for e in events]
    assert kinds[0] == "info" and kinds[-1] == "done"
    assert {"plan", "step", "review"} <= set(kinds)
    assert any(e.message.startswith("sandbox: ") for e in events)


async def test_the_strategy_and_the_transcript(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    calls: list[equitr.Exchange] = []
    result = await equitr.fix(
        repo, TASK, model="openai/gpt-4.1-mini", strategy="plan", settings=settings, transcript=calls,
        chat_model=ScriptedModel([PLAN, WORKER, ACCEPT]),
    )  # fmt: skip
    assert result.strategy == "plan" and result.accepted
    assert len(calls) == 3 and result.transcript == tuple(calls)
    with pytest.raises(ConfigError, match="strategy must be auto, plan or tools"):
        await equitr.fix(repo, TASK, strategy="fast", settings=settings, chat_model=ScriptedModel([]))  # type: ignore[arg-type]


async def test_a_run_without_an_accepted_change_makes_no_branch(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    stop = '{"decision": "stop", "reason": "cannot do it"}'
    result = await equitr.fix(
        repo, TASK, model="openai/gpt-4.1-mini", max_iterations=1, settings=settings,
        chat_model=ScriptedModel([PLAN, WORKER, stop]),
    )  # fmt: skip
    assert result.status == "stopped" and result.branch is None and result.changed
    assert git(repo, "branch", "--list", "equitr/*") == ""


async def test_events_as_an_async_iterator(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    events = equitr.stream(
        equitr.fix, repo, TASK, model="openai/gpt-4.1-mini", settings=settings,
        chat_model=ScriptedModel([PLAN, WORKER, ACCEPT]),
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="iterate"):
        _ = events.result
    seen = [event.kind async for event in events]
    assert seen[-1] == "done" and "plan" in seen
    assert events.result.branch == "equitr/mean-is-off-by-one-fix-it"


def test_the_sync_wrapper_runs_without_an_event_loop(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    result = equitr.sync.fix(
        repo, TASK, model="openai/gpt-4.1-mini", settings=settings, chat_model=ScriptedModel([PLAN, WORKER, ACCEPT])
    )
    assert result.accepted and result.branch


async def test_the_sync_wrapper_refuses_a_running_loop(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"await equitr\.plan"):
        equitr.sync.plan(tmp_path, "x")


async def test_plan_changes_nothing_and_returns_the_steps(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    model = ScriptedModel([PLAN])
    result = await equitr.plan(repo, TASK, model="openai/gpt-4.1-mini", settings=settings, chat_model=model)
    assert result.accepted and not result.fallback
    assert [s.tool for s in result.steps] == ["search", "file"]
    assert "mathutil.py" in " ".join(result.describe())
    assert git(repo, "branch", "--list", "equitr/*") == ""


async def test_ask_answers_from_the_repository(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    read = json.dumps(
        {"execution_steps": [{"step": 1, "tool": "file", "parameters": {"action": "read", "path": "mathutil.py"}}]}
    )
    model = ScriptedModel([read, "mean() divides by len(values) + 1, so it is off by one."])
    question = "Why is mean() in mathutil.py wrong?"
    result = await equitr.ask(repo, question, model="openai/gpt-4.1-mini", settings=settings, chat_model=model)
    assert result.accepted and "off by one" in result.answer
    assert "def mean" in model.seen[-1][1][-1].content  # the answer saw what the read step found


async def test_review_of_a_diff_and_of_a_repository(tmp_path: Path, settings: Settings) -> None:
    repo = make_repo(tmp_path)
    (repo / "mathutil.py").write_text((repo / "mathutil.py").read_text().replace("(len(values) + 1)", "len(values)"))
    diff = git(repo, "diff")
    assert [p for p, _ in split_diff(diff)] == ["mathutil.py"]
    line = next(i for i, text in enumerate((repo / "mathutil.py").read_text().splitlines(), 1) if "len(values)" in text)
    body = "An empty list divides by zero."
    comment = json.dumps({"comments": [{"line": line, "body": body}, {"line": 999, "body": "outside the diff"}]})
    for target in (diff, repo):
        result = await equitr.review(
            target, title="Fix mean", model="openai/gpt-4.1-mini", settings=settings,
            chat_model=ScriptedModel(["- Fixes the divisor of mean().", comment]),
        )  # fmt: skip
        assert result.summary == "- Fixes the divisor of mean()."
        assert result.comments == (equitr.ReviewComment("mathutil.py", line, "An empty list divides by zero."),)
        assert result.dropped == 1 and result.files == ("mathutil.py",)
        assert [row.role for row in result.cost.rows] == ["supervisor", "worker"]


def test_interpret_reads_a_raw_reply() -> None:
    plan = '{"steps": [{"step": 1, "tool": "search", "parameters": {"q": "mean"}}]}'
    reply = f"Sure! <think>hmm</think> ```json\n{plan}\n```"
    result = equitr.interpret(reply, request="fix mean")
    assert [s.tool for s in result.steps] == ["search"] and result.repairs


async def test_bad_input_is_a_clear_error(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="is not a git repository"):
        await equitr.fix(tmp_path, TASK, settings=settings, chat_model=ScriptedModel([]))
    repo = make_repo(tmp_path)
    with pytest.raises(ConfigError, match="Unknown model") as caught:
        await equitr.fix(repo, TASK, model="openai/gpt-4.1-mni", settings=settings, chat_model=ScriptedModel([]))
    assert "gpt-4.1-mini" in str(caught.value.hint or "") + caught.value.message  # the closest valid name
    with pytest.raises(ConfigError, match="budget_usd"):
        await equitr.fix(repo, TASK, budget_usd=-1, settings=settings, chat_model=ScriptedModel([]))


async def test_the_keywords_are_the_options_spelled_out(tmp_path: Path) -> None:
    """`fix`, `plan` and `ask` take `**options` typed by one TypedDict each; at run time too each keyword shows
    in the signature (help(), IDEs without a type checker) and one they do not take is a TypeError."""
    for fn, options in ((equitr.fix, equitr.FixOptions), (equitr.plan, equitr.Options), (equitr.ask, equitr.Options)):
        for shown in (fn, getattr(equitr.sync, fn.__name__)):
            keywords = {
                p.name: p.annotation for p in inspect.signature(shown).parameters.values() if p.kind is p.KEYWORD_ONLY
            }
            assert list(keywords) == list(options.__annotations__), fn.__name__
        assert inspect.signature(fn).parameters["model"].annotation == "str | None"
    with pytest.raises(TypeError, match="modle"):
        await equitr.fix(tmp_path, TASK, modle="openai/gpt-4.1-mini")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="test_command"):
        await equitr.plan(tmp_path, TASK, test_command="pytest")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_iterations"):
        await equitr.ask(tmp_path, "why?", max_iterations=1)  # type: ignore[call-arg]


def test_the_package_is_typed_and_its_names_are_the_apis() -> None:
    assert (ROOT / "bot" / "py.typed").is_file()
    # `interpret` is also a subpackage's name: the package's attribute is the function, whatever was imported first.
    for name in ("fix", "plan", "ask", "review"):
        assert asyncio.iscoroutinefunction(getattr(equitr, name)), name
    assert callable(equitr.interpret) and equitr.interpret.__module__ == "equitr.local.api"
    # The package's names are the API's one list, and each is there.
    assert set(equitr.__all__) == {*api.__all__, "__version__", "sync"}
    assert all(hasattr(equitr, name) for name in equitr.__all__)
    code = (
        "import equitr.interpret.graph; import equitr.interpret; import equitr; "
        "print(equitr.plan.__module__, equitr.interpret.__module__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.split() == ["equitr.local.api", "equitr.local.api"], proc.stderr


def test_the_api_demo_script_fixes_the_sample(tmp_path: Path) -> None:
    """scripts/api-demo --scripted, as docs/api.md shows it: a user's script, in its own process."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "EQUITR_WORKDIR": str(tmp_path / "work"),
        "EQUITR_SANDBOX": "bwrap" if binaries.bwrap().path is not None else "none",
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "api-demo"), "--scripted"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "status:       accepted" in out and "branch:       equitr/mean-in-mathutil-py-returns-the-wrong-va" in out
    assert "tests before: 1 failed, 1 passed" in out and "tests after:  2 passed" in out
    assert "+    return sum(values) / len(values)" in out
    assert "openai/gpt-4.1-mini  supervisor  2" in out
    assert out.rstrip().endswith("the sample's working tree after the run: clean")

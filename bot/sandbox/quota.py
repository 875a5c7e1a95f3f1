"""A disk quota per job: what commands (the tests, the setup) may add to the job's checkout and environment.

No root is needed, so it works wherever equitr does, in two layers:

- **during** a command, a watch called from the output loop (a few times a second) compares the free space
  of the filesystem holding the checkout with what it was when the command started (`statvfs`, one system
  call). Only when the drop exceeds what is left of the quota does it measure the job's directories for
  real (other jobs on the same disk can cause the drop too), and the command is killed when they are over.
  It is also killed when the filesystem's free space falls under `RESERVE_BYTES`, whoever filled it, so a
  job never takes the last of the disk that holds `EQUITR_DB`;
- **after** every command the directories are measured, and a job over its quota stops with a formatted
  error naming the key that raises it (`limits.max_disk_mb`).

`RLIMIT_FSIZE` (equitr.sandbox.limits) caps each file on top. What this cannot do: stop a write between two
looks (at a few hundred MB/s, a quarter of a second is tens of MB past the limit), or count what lands
outside the checkout and the environment (the sandbox's `/tmp` is a tmpfs with its own size). For a hard
limit, give `EQUITR_WORKDIR` a filesystem of its own: a loop-mounted image, an XFS project quota, or a
tmpfs with `size=`; then a full quota fills only that.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from equitr.errors import LimitReached

MIB = 1024**2
DEFAULT_LIMIT_BYTES = 2048 * MIB
RESERVE_BYTES = 512 * MIB  # free space a command must leave on the checkout's filesystem
_CHEAP_EVERY_S = 0.25
_MEASURE_EVERY_S = 2.0
_RESERVE_SLACK = 16 * MIB  # a disk that was nearly full already is not this command's doing until it writes


def usage(paths: Iterable[Path]) -> int:
    """Bytes on disk under `paths` (allocated blocks, so sparse files count what they use; hard links once;
    symlinks never followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [p for p in paths if os.path.lexists(p)]
    while stack:
        path = stack.pop()
        try:
            info = os.lstat(path)
        except OSError:
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            with contextlib.suppress(OSError), os.scandir(path) as entries:
                stack.extend(Path(e.path) for e in entries)
    return total


def free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def shown(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / MIB:.0f} MiB"


@dataclass(slots=True)
class DiskQuota:
    """One job's quota. `baseline` is what its directories held before its first command."""

    limit_bytes: int = DEFAULT_LIMIT_BYTES
    reserve_bytes: int = RESERVE_BYTES
    baseline: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, paths: tuple[Path, ...]) -> DiskWatch:
        """A watch for one command over the job's directories (the first call measures the baseline)."""
        with self.lock:
            now = usage(paths)
            if self.baseline is None:
                self.baseline = now
            return DiskWatch(self, paths, allowance=self.limit_bytes - (now - self.baseline))

    def check(self, paths: tuple[Path, ...], *, what: str) -> None:
        """After a command: raise LimitReached when the job's directories are over the quota."""
        if self.baseline is None:
            return
        added = usage(paths) - self.baseline
        if added > self.limit_bytes:
            raise self.exceeded(
                f"{what} left {shown(added)} in the job's checkout and environment, over the job's disk limit "
                f"of {shown(self.limit_bytes)}"
            )

    def exceeded(self, what: str) -> LimitReached:
        return LimitReached(
            f"{what}; the job stops here.",
            limit="disk",
            hint="Make the tests clean up what they write, or raise `limits.max_disk_mb` in .equitr.toml on "
            "the default branch.",
        )


@dataclass(slots=True)
class DiskWatch:
    """Called from the command's output loop: None while all is well, else why the command must die."""

    quota: DiskQuota
    paths: tuple[Path, ...]
    allowance: int  # what the command may still add
    reason: str | None = None
    _free0: int | None = None
    _cheap_at: float = 0.0
    _measured_at: float = 0.0

    def __post_init__(self) -> None:
        self._free0 = free_bytes(self.paths[0])

    def __call__(self) -> str | None:
        now = time.monotonic()
        if self.reason is not None or now - self._cheap_at < _CHEAP_EVERY_S:
            return self.reason
        self._cheap_at = now
        free = free_bytes(self.paths[0])
        if free is not None and self._free0 is not None:
            spent = self._free0 - free
            if free < self.quota.reserve_bytes and spent > _RESERVE_SLACK:
                self.reason = f"it left less than {shown(self.quota.reserve_bytes)} free on the disk of the checkout"
                return self.reason
            if spent <= self.allowance:
                return None
        if now - self._measured_at >= _MEASURE_EVERY_S:  # the disk filled, or statvfs cannot tell: measure
            self._measured_at = now
            base = self.quota.baseline or 0
            if usage(self.paths) - base > self.quota.limit_bytes:
                self.reason = f"it wrote more than the job's disk limit of {shown(self.quota.limit_bytes)}"
        return self.reason

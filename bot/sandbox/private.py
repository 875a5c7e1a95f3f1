"""Files and directories only equitr's own user may read: the job store (issue text, job arguments, the
queue) is 0600, the work directory (mirrors and checkouts of private repositories) 0700, whatever the umask."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from equitr.errors import ConfigError

log = logging.getLogger(__name__)

# SQLite creates its -wal and -shm files with the database file's mode; older stores may predate this.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_file(path: Path) -> None:
    """Create `path` (and its missing parent, 0700) as 0600, and tighten an existing store and its side files."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Only ever open a file that does not exist yet: closing any descriptor of a database file drops every
    # POSIX lock this process holds on it, including those of its open SQLite connections.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in _SQLITE_SIDE_FILES)):
        _chmod(candidate, 0o600)


def private_dir(path: Path) -> Path:
    """`path` as a directory that only this user can enter, created if missing.

    A directory that exists but belongs to another user, or is a symlink, is refused: under a shared
    temporary directory someone else could have made it first."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigError(
            f"The work directory {path} is not a directory owned by equitr's user (uid {os.getuid()}).",
            hint="Point EQUITR_WORKDIR at a directory of equitr's own, or remove the one in the way.",
        )
    _chmod(path, 0o700)
    return path


def _chmod(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:
        pass
    except PermissionError:
        log.warning("cannot make %s private (mode %o): it belongs to another user", path, mode)

"""Path guards: every file operation of the agent goes through `resolve_in_checkout`.

The rules, in order: the path is relative, has no NUL byte, no `~`, no `..`; every component is resolved
for real (symlinks included) and the result must stay inside the checkout's real path, compared with
`Path.is_relative_to` on resolved paths, never as strings. Writes are refused under `.git` and
`.github/workflows` in any spelling a filesystem or a later checkout on another OS might treat as the same
name (case, Unicode normalisation, invisible characters, trailing dots and spaces, 8.3 short names), and
wherever the job's `WritePolicy` (equitr.sandbox.policy) says no.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from equitr.errors import PathRefused
from equitr.sandbox.names import fold_name
from equitr.sandbox.policy import DEFAULT_POLICY, WritePolicy

# What one write may put in a file (the file tool's `content`, an edit's result).
MAX_WRITE_BYTES = 1_000_000
_HINT = "Use a path relative to the repository root, e.g. `src/app.py`."


def protected_reason(parts: tuple[str, ...]) -> str | None:
    """Why writing at these path components is refused, or None when it is allowed."""
    folded = [fold_name(p) for p in parts]
    for i, name in enumerate(folded):
        if name in (".git", "git~1"):
            return "`.git` holds the repository's metadata and hooks; the agent never writes there"
        if name == ".github" and i + 1 < len(folded) and folded[i + 1] == "workflows":
            return "`.github/workflows` would run code in CI with the repository's secrets"
    return None


def _lexical_parts(user_path: str) -> tuple[str, ...]:
    if not user_path or not user_path.strip():
        raise PathRefused("Empty path refused.", hint=_HINT)
    if "\x00" in user_path:
        raise PathRefused("Path refused: it contains a NUL byte.", hint=_HINT)
    if user_path.startswith("~"):
        raise PathRefused(f"Path `{user_path}` refused: `~` (home directory) is outside the checkout.", hint=_HINT)
    if "\\" in user_path:
        raise PathRefused(f"Path `{user_path}` refused: use forward slashes (`/`).", hint=_HINT)
    pure = PurePosixPath(user_path)
    if pure.is_absolute():
        raise PathRefused(f"Path `{user_path}` refused: absolute paths are not allowed.", hint=_HINT)
    if ".." in pure.parts:
        raise PathRefused(f"Path `{user_path}` refused: `..` is not allowed.", hint=_HINT)
    return pure.parts


def resolve_in_checkout(root: Path, user_path: str, *, for_write: bool, policy: WritePolicy = DEFAULT_POLICY) -> Path:
    """Resolve `user_path` inside the checkout `root`, or raise `PathRefused` saying why. A write is also
    checked against `policy` (`fix.blocked_paths`, the files CI runs) on the path as written and as
    resolved, and refused on anything that exists but is not a regular file or a directory (a FIFO would
    block whoever opens it)."""
    parts = _lexical_parts(user_path)
    real_root = root.resolve(strict=True)
    if for_write:
        _check_write(user_path, parts, policy, resolved=False)
    try:
        final = _resolve_parts(real_root, user_path, parts, for_write=for_write)
    except RuntimeError:  # pathlib's "Symlink loop from …"
        raise PathRefused(f"Path `{user_path}` refused: it goes through a symlink loop.") from None
    except OSError as exc:  # a name too long for the filesystem, a component that is not a directory, …
        raise PathRefused(f"Path `{user_path}` refused: {exc.strerror or exc}.") from None
    if for_write:
        _check_write(user_path, final.relative_to(real_root).parts, policy, resolved=True)
        try:
            mode = os.lstat(final).st_mode
        except FileNotFoundError:
            return final
        except OSError as exc:
            raise PathRefused(f"Writing `{user_path}` refused: {exc.strerror or exc}.") from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise PathRefused(
                f"Writing `{user_path}` refused: it is not a regular file (a FIFO, socket or device, made by code "
                "under test)."
            )
    return final


def _check_write(user_path: str, parts: tuple[str, ...], policy: WritePolicy, *, resolved: bool) -> None:
    where = "it resolves into a protected path; " if resolved else ""
    if reason := protected_reason(parts):
        raise PathRefused(f"Writing `{user_path}` refused: {where}{reason}.")
    if parts and (refusal := policy.refusal("/".join(parts))):
        shown = f"it resolves to `{'/'.join(parts)}`, and " if resolved and "/".join(parts) != user_path else ""
        raise PathRefused(f"Writing `{user_path}` refused: {shown}{refusal.reason}.", hint=refusal.hint)


def _resolve_parts(real_root: Path, user_path: str, parts: tuple[str, ...], *, for_write: bool) -> Path:
    current = real_root
    for index, part in enumerate(parts):
        candidate = current / part
        if candidate.is_symlink():
            target = candidate.resolve(strict=False)
            shown = "/".join(parts[: index + 1])
            if not target.is_relative_to(real_root):
                raise PathRefused(
                    f"Path `{user_path}` refused: `{shown}` is a symlink that leads outside the checkout."
                )
            if not target.exists() and (for_write or index + 1 < len(parts)):
                raise PathRefused(f"Path `{user_path}` refused: `{shown}` is a dangling symlink.")
            candidate = target
        current = candidate
    # Defence in depth: whatever the lexical checks missed, the real path must be inside.
    final = current.resolve(strict=False)
    if not final.is_relative_to(real_root):
        raise PathRefused(f"Path `{user_path}` refused: it resolves outside the checkout.")
    return final


def check_write_size(content: str) -> bytes:
    """Encode `content` for writing, refusing anything over `MAX_WRITE_BYTES`."""
    data = content.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise PathRefused(
            f"Write refused: {len(data)} bytes is over the limit of {MAX_WRITE_BYTES} bytes per file.",
            hint="Write smaller files, or edit the file with search/replace blocks.",
        )
    return data


def read_regular(path: Path, limit: int = -1) -> bytes:
    """The bytes of a regular file, opened without following a final symlink and without blocking, so a
    FIFO, a device or a symlink swapped in by code under test is an OSError, never a hang or a host file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return fh.read(limit)


def real_parents(root: Path, rel: str) -> bool:
    """Whether every directory between `root` and `rel` is a real directory (lstat: no symlink, nothing
    else) with no `.git` of its own. Checked when no code under test is running, so it cannot race."""
    current = root
    for part in PurePosixPath(rel).parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except FileNotFoundError:
            return True  # nothing below exists yet: nothing to follow
        if os.path.lexists(current / ".git"):
            return False
    return True

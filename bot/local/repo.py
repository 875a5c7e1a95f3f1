"""The caller's own git repository, as the API and `equitr run` use it: the commit its HEAD is on, that commit's
`.equitr.toml`, and an accepted change handed back as a new branch that never moves an existing one.

Only these functions touch the caller's repository, and only to read it or to create a branch ref: the work
itself happens in a checkout of its own (bot/sandbox/workspace.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from equitr.config.problems import FILENAME, Problem
from equitr.config.repo import MAX_BYTES, RepoConfig, parse
from equitr.errors import ConfigError, RepoConfigError
from equitr.sandbox.gitsafe import GitResult, git_in, run_git
from equitr.sandbox.workspace import Checkout, auth_env


def slug(text: str, *, limit: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (words[:limit].rstrip("-") or "change") if words else "change"


def _user_git(repo: Path, *args: str, check: bool = False, env: dict[str, str] | None = None) -> GitResult:
    """git in the user's own repository (found from `repo` as git would: a worktree's `.git` file works)."""
    return run_git(list(args), cwd=repo, check=check, env=env)


def current_branch(repo: Path) -> str:
    if not _user_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").ok:
        raise ConfigError(f"{repo} has no commits yet.", hint="Commit your work first: equitr works on a commit.")
    name = _user_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.strip()
    return f"branch {name}" if name else "detached HEAD"


def check_out_head(checkout: Checkout, repo: Path) -> str:
    """Check out the user's HEAD as it is now: the branch they are on, or a detached commit. (The cached
    mirror's own HEAD is whatever branch was current when it was first made.)"""
    git_in(checkout.root, ["fetch", "--quiet", "--no-tags", str(repo), "HEAD"], env=auth_env(None, str(repo)))
    head = checkout.git("rev-parse", "--verify", "FETCH_HEAD^{commit}").stdout.strip()
    checkout.git("checkout", "--quiet", "--detach", head)
    return head


def read_config(root: Path, commit: str) -> RepoConfig | None:
    """`.equitr.toml` as committed in `commit` (not as it is in a working tree): None when it has none."""
    listed = git_in(root, ["ls-tree", "-z", commit, "--", FILENAME]).stdout.rstrip("\0")
    if not listed:
        return None
    mode, kind, oid = listed.split("\t", 1)[0].split()
    try:
        if kind != "blob" or mode not in ("100644", "100755"):
            raise RepoConfigError([Problem("", "is not a regular file")])
        if int(git_in(root, ["cat-file", "-s", oid]).stdout) > MAX_BYTES:
            raise RepoConfigError([Problem("", f"the file is larger than {MAX_BYTES // 1024} KiB")])
        return parse(git_in(root, ["cat-file", "blob", oid]).stdout)
    except RepoConfigError as exc:
        exc.hint = f"Fix {FILENAME} and commit it; docs/configuration.md lists every key and its default."
        raise


def hand_over(checkout: Checkout, repo: Path, wanted: str) -> tuple[str, list[str]]:
    """Bring the commit into the user's repository as a new branch: `wanted`, or `wanted-2`, `-3`, … when
    that name is taken. An existing branch is never moved, so no commit of the user's is ever lost.
    Returns the branch made and the names that were taken."""
    sha = checkout.head()
    _user_git(
        repo, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(checkout.root), f"refs/heads/{wanted}",
        check=True, env=auth_env(None, str(checkout.root)),
    )  # fmt: skip
    taken: list[str] = []
    for n in range(1, 1000):
        name = wanted if n == 1 else f"{wanted}-{n}"
        # Create only if absent (the all-zero old value), atomically: a branch made meanwhile is kept too.
        if _user_git(repo, "update-ref", "-m", "equitr run", f"refs/heads/{name}", sha, "0" * len(sha)).ok:
            return name, taken
        taken.append(name)
    raise ConfigError(f"Could not find a free branch name for {wanted}.", hint="Delete old equitr/ branches.")

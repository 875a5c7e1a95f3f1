"""Workspaces: a cached bare mirror per repository and a fresh checkout per job, removed afterwards.

A token, when the remote needs one, travels only in the environment of the one git process that needs it
(`GIT_CONFIG_COUNT`/`KEY`/`VALUE`, git's environment form of `-c http.extraHeader=…`): not in argv (which
other users can read in /proc), not in `.git/config`, not in a remote URL, not in any message.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from equitr.errors import SandboxError
from equitr.monitor.records import timed
from equitr.sandbox.gitsafe import (
    GitResult,
    audit_config,
    check_git_dir,
    commit_index,
    git_in,
    run_git,
    strip_dangerous_config,
)
from equitr.sandbox.policy import BRANCH_PREFIX
from equitr.sandbox.private import private_dir
from equitr.sandbox.threads import in_thread


def config_env(pairs: dict[str, str]) -> dict[str, str]:
    """git configuration for one process through the environment (`GIT_CONFIG_COUNT`), not argv."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs.items()):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def auth_env(token: str | None, url: str = "") -> dict[str, str]:
    """A GitHub-style Basic auth header for this one git process (and local transport for local URLs)."""
    pairs: dict[str, str] = {}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        pairs["http.extraHeader"] = f"Authorization: Basic {basic}"
    if _is_local(url):
        pairs["protocol.file.allow"] = "always"  # our own mirror, or a file:// remote we were given
    return config_env(pairs) if pairs else {}


def _is_local(url: str) -> bool:
    return url.startswith(("file://", "/"))


def _redactions(token: str | None) -> list[str]:
    if not token:
        return []
    return [token, base64.b64encode(f"x-access-token:{token}".encode()).decode()]


def _slug(repo: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", repo).strip(".-")[:80] or "repo"
    return f"{safe}-{hashlib.sha256(repo.encode()).hexdigest()[:8]}"


def _check_url(url: str) -> None:
    if url.startswith("-") or "\n" in url or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise SandboxError("Refusing a remote URL with options or credentials in it; pass the token separately.")


def check_branch_name(name: str, *, push: bool = False) -> str:
    proc = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
    if proc.returncode != 0 or name.startswith("-"):
        raise SandboxError(f"`{name}` is not a valid branch name.")
    if push and not name.startswith(BRANCH_PREFIX):
        raise SandboxError(f"equitr only pushes `{BRANCH_PREFIX}…` branches, not `{name}`.")
    return name


@dataclass(slots=True)
class Checkout:
    """One job's working copy. Its git calls all go through `gitsafe`."""

    root: Path
    pushed: dict[str, str] = field(default_factory=dict)

    def git(self, *args: str, check: bool = True) -> GitResult:
        return git_in(self.root, args, check=check)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def create_branch(self, name: str) -> None:
        self.git("checkout", "-b", check_branch_name(name))

    def commit_staged(self, message: str) -> str | None:
        """Commit the index as it is (the agent stages exactly what it wrote and what the supervisor
        reviewed, see `gitsafe.stage`), by equitr; the new commit's sha, or None when nothing is staged."""
        return self.head() if commit_index(self.root, message) else None

    def push(self, remote_url: str, branch: str, token: str | None = None) -> str:
        """Push HEAD to `branch` (an `equitr/…` branch) with a lease: it must still be where we left it
        (or not exist yet), so a maintainer's commits on that branch are never overwritten."""
        _check_url(remote_url)
        check_branch_name(branch, push=True)
        ref = f"refs/heads/{branch}"
        lease = f"--force-with-lease={ref}:{self.pushed.get(branch, '')}"
        git_dir = check_git_dir(self.root)
        if bad := audit_config(git_dir):  # e.g. a `url.*.insteadOf` that would send the token elsewhere
            raise SandboxError(f"Refusing to push: .git/config sets {', '.join(bad)}.")
        with timed("push"):
            run_git(
                ["push", "--no-verify", "--porcelain", lease, remote_url, f"HEAD:{ref}"],
                cwd=self.root,
                git_dir=git_dir,
                work_tree=self.root,
                env=auth_env(token, remote_url),
                redact=_redactions(token),
            )
        sha = self.head()
        self.pushed[branch] = sha
        return sha

    # The job's forms: the same git calls, in a thread, so that the job's event loop goes on meanwhile.

    async def create_branch_async(self, name: str) -> None:
        await in_thread(self.create_branch, name)

    async def commit_staged_async(self, message: str) -> str | None:
        return await in_thread(self.commit_staged, message)

    async def push_async(self, remote_url: str, branch: str, token: str | None = None) -> str:
        return await in_thread(self.push, remote_url, branch, token)


class Workspace:
    """Mirrors under `base/mirrors`, job checkouts under `base/jobs`."""

    def __init__(self, base_dir: Path) -> None:
        # 0700 all the way down: mirrors and checkouts hold private repositories' code.
        self.base = private_dir(base_dir)
        self.mirrors = private_dir(base_dir / "mirrors")
        self.jobs = private_dir(base_dir / "jobs")

    @contextmanager
    def _locked(self, slug: str) -> Iterator[None]:
        with open(self.mirrors / f"{slug}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def mirror(self, repo: str, url: str, *, token: str | None = None) -> Path:
        """The up-to-date bare mirror of `repo` (cloned the first time, fetched afterwards)."""
        _check_url(url)
        slug = _slug(repo)
        path = self.mirrors / f"{slug}.git"
        with self._locked(slug):
            env, redact = auth_env(token, url), _redactions(token)
            if (path / "HEAD").exists():
                run_git(["fetch", "--prune", "--quiet", url, "+refs/*:refs/*"], cwd=path, git_dir=path, env=env,
                        redact=redact)  # fmt: skip
            else:
                shutil.rmtree(path, ignore_errors=True)
                run_git(["clone", "--mirror", "--quiet", "--", url, str(path)], cwd=self.mirrors, env=env,
                        redact=redact)  # fmt: skip
        return path

    @asynccontextmanager
    async def checkout(
        self, repo: str, url: str, *, ref: str | None = None, token: str | None = None
    ) -> AsyncIterator[Checkout]:
        """A fresh checkout of `ref` (branch, tag or commit; default branch when None), removed on exit. Its
        git calls run in a thread (`in_thread`): the job's loop goes on, and a cancel waits for them."""
        job_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, f"{_slug(repo)}-", None, self.jobs))
        try:
            yield await in_thread(self._check_out, job_dir, repo, url, ref, token)
        finally:
            await asyncio.to_thread(shutil.rmtree, job_dir, True)

    def _check_out(self, job_dir: Path, repo: str, url: str, ref: str | None, token: str | None) -> Checkout:
        with timed("checkout"):  # the job's monitor, if any: mirror fetch, clone and checkout
            mirror = self.mirror(repo, url, token=token)
            root = job_dir / "repo"
            with self._locked(_slug(repo)):
                run_git(["clone", "--no-hardlinks", "--no-checkout", "--quiet", "--", str(mirror), str(root)],
                        cwd=job_dir, env=auth_env(None, str(mirror)))  # fmt: skip
            strip_dangerous_config(check_git_dir(root))
            co = Checkout(root)
            if ref is not None:
                co.git("checkout", "--quiet", "--detach", self._resolve(co, ref))
            else:
                co.git("reset", "--quiet", "--hard", "HEAD")
        return co

    @staticmethod
    def _resolve(co: Checkout, ref: str) -> str:
        if ref.startswith("-"):
            raise SandboxError(f"`{ref}` is not a ref.")
        for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
            found = co.git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if found.ok:
                return found.stdout.strip()
        raise SandboxError(f"`{ref}` is neither a branch, a tag nor a commit of this repository.")

"""Reading `.equitr.toml` from GitHub: from the default branch only, and cached briefly for the webhook path."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

import gidgethub
from gidgethub.abc import GitHubAPI

from equitr.config.problems import FILENAME, Problem
from equitr.config.repo import MAX_BYTES, RepoConfig, load_default, parse
from equitr.errors import GitHubError, RepoConfigError
from equitr.github.retry import rate_limited


async def fetch_config(gh: GitHubAPI, repo: str, default_branch: str) -> RepoConfig:
    """Read and validate `.equitr.toml` of `repo` ("owner/name") from its **default branch**; defaults when
    there is none.

    Never from the branch being worked on: a pull request (perhaps from a fork, perhaps written by the agent
    itself) could otherwise raise its own budget, unblock paths, pick a model or change scheduled prompts.
    The default branch is what maintainers have already reviewed and merged, so it is the only trusted source.
    """
    url = f"/repos/{repo}/contents/{FILENAME}?ref={quote(default_branch, safe='')}"
    try:
        data = await gh.getitem(url)
    except (GitHubError, gidgethub.BadRequest) as exc:  # equitr's client, or a plain gidgethub one
        status = exc.status if isinstance(exc, GitHubError) else int(exc.status_code)
        if status == 404:
            return load_default()
        if status is None or status >= 500 or rate_limited(exc):  # not a refusal: a wait, or GitHub's trouble
            raise
        raise GitHubError(
            f"Could not read {FILENAME} of {repo} (HTTP {status}).",
            status=status,
            hint="The App needs the `Contents: read` permission on this repository.",
        ) from None
    return parse(_decode(data))


class ConfigCache:
    """`.equitr.toml` per repository, kept for `ttl_s`: the webhook path reads it to tell the repository's
    trigger label from other labels, and a burst of label events should not mean a burst of reads."""

    def __init__(self, *, ttl_s: float = 60.0, maxsize: int = 1024) -> None:
        from cachetools import TTLCache

        self._cache: TTLCache[str, RepoConfig] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    async def get(self, gh: GitHubAPI, repo: str, default_branch: str) -> RepoConfig:
        key = repo.lower()
        found = self._cache.get(key)
        if found is None:
            found = await fetch_config(gh, repo, default_branch)
            self._cache[key] = found
        return found


def _decode(data: Any) -> str:
    if not isinstance(data, dict) or data.get("type") != "file":
        raise RepoConfigError([Problem("", "is not a file at the repository root")])
    if data.get("encoding") != "base64" or not isinstance(data.get("content"), str):
        # The contents API sends no content for files over 1 MB.
        raise RepoConfigError([Problem("", f"the file is larger than {MAX_BYTES // 1024} KiB")])
    try:
        raw = base64.b64decode(data["content"], validate=False)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise RepoConfigError([Problem("", "is not UTF-8 text")]) from None

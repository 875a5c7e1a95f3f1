"""Who may start work: write, maintain or admin on the repository, asked of GitHub (never taken from
`author_association`, which says nothing about permission), cached briefly."""

from __future__ import annotations

import threading
import urllib.parse

from cachetools import TTLCache
from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from equitr.errors import GitHubError

ALLOWED_ROLES = frozenset({"admin", "maintain", "write"})


class Permissions:
    def __init__(self, *, ttl_s: float = 300.0, maxsize: int = 4096) -> None:
        self._cache: TTLCache[tuple[str, str], str] = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self._lock = threading.Lock()

    async def role(self, gh: GitHubAPI, repo: str, login: str) -> str:
        """The user's role: admin, maintain, write, triage, read or none."""
        key = (repo.lower(), login.lower())
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        user = urllib.parse.quote(login, safe="")
        try:
            data = await gh.getitem(f"/repos/{repo}/collaborators/{user}/permission")
        except (BadRequest, GitHubError) as exc:
            status = exc.status_code if isinstance(exc, BadRequest) else exc.status
            if status != 404:  # 404: no such user, or not a collaborator at all.
                raise
            data = {"permission": "none"}
        # `permission` folds maintain into write and triage into read; `role_name` keeps them apart.
        role = str(data.get("role_name") or data.get("permission") or "none").lower()
        with self._lock:
            self._cache[key] = role
        return role

    async def allowed(self, gh: GitHubAPI, repo: str, login: str) -> bool:
        if not login:
            return False
        return await self.role(gh, repo, login) in ALLOWED_ROLES

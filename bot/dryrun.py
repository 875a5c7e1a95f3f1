"""A GitHub client that prints the calls it would make instead of making them (`equitr replay --dry-run`).

Answers are plausible placeholders so the code path runs to its end: the requester has write permission,
lists are empty, and created things get ids.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from bot.github.scope import Scope
from bot.redact import redact
from bot.triggers import Identity


class DryRunGitHub(GitHubAPI):
    def __init__(self, *, out: Callable[[str], None] = print, base_url: str = "https://api.github.com") -> None:
        super().__init__("equitr", base_url=base_url)
        self.out = out
        self.calls: list[tuple[str, str, Any]] = []
        self._ids = itertools.count(1000)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        data = json.loads(body) if body else None
        self.calls.append((method, url, data))
        shown = "" if data is None else " " + redact(json.dumps(data))[:300]
        self.out(f"[dry-run] {method} {url}{shown}")
        return 200, {"content-type": "application/json"}, json.dumps(self._answer(method, url)).encode()

    def _answer(self, method: str, url: str) -> Any:
        path = url.split("?", 1)[0]
        if path.endswith("/permission"):
            return {"permission": "admin", "role_name": "admin", "user": {"login": "dry-run"}}
        if method == "GET" and (path.endswith("s") or "/comments" in path):
            return []
        new_id = next(self._ids)
        return {"id": new_id, "number": new_id, "html_url": f"https://github.com/dry-run/{new_id}", "body": ""}

    async def sleep(self, seconds: float) -> None:
        return None


class DryRunAccess:
    """Stands in for `GitHubAccess`: every job gets the same printing client."""

    def __init__(self, client: DryRunGitHub) -> None:
        self.client = client

    async def api(
        self, session: aiohttp.ClientSession, installation_id: int | None, *, scope: Scope | None = None
    ) -> GitHubAPI:
        return self.client

    async def identity(self, session: aiohttp.ClientSession) -> Identity:
        return Identity()

"""A GitHub client that prints the calls it would make instead of making them (`equitr replay --dry-run`).

Answers are plausible placeholders shaped like GitHub's, so every job's code path runs until real work would
start: the requester has write permission, the repository has a default branch and no `.equitr.toml`, lists
are empty, and created things get ids. A job stops (and ends `done`) where it would clone the repository or
ask a model: a dry run changes nothing and costs nothing.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr.errors import DryRunStop
from equitr.events.decisions import Identity
from equitr.github.access import GitHubAccess
from equitr.github.scope import Scope
from equitr.models.types import ChatRequest, Reply
from equitr.redact import redact

LOGIN = "equitr-dry-run[bot]"
_REPO = re.compile(r"^/repos/([^/]+)/([^/]+)(/.*)?$")


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
        status, answer = self._answer(method, url)
        return status, {"content-type": "application/json"}, json.dumps(answer).encode()

    def _answer(self, method: str, url: str) -> tuple[int, Any]:
        path = "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        match = _REPO.match(path)
        if method == "GET" and path == "/app":
            return 200, {"id": 0, "slug": LOGIN.removesuffix("[bot]")}
        if method != "GET" or match is None:
            return self._made()
        owner, name, rest = match.group(1), match.group(2), match.group(3) or ""
        full = f"{owner}/{name}"
        parts = rest.strip("/").split("/") if rest else []
        if not parts:
            return 200, {
                "id": 1,
                "name": name,
                "full_name": full,
                "private": False,
                "default_branch": "main",
                "clone_url": f"https://github.com/{full}.git",
            }
        if parts[-1] == "permission":
            return 200, {"permission": "admin", "role_name": "admin", "user": {"login": "dry-run"}}
        if parts[0] in ("contents", "git"):  # no `.equitr.toml`, no branch yet
            return 404, {"message": "Not Found"}
        if len(parts) == 2 and parts[0] in ("issues", "pulls") and parts[1].isdigit():
            return 200, self._item(full, parts[0], int(parts[1]))
        return 200, []  # lists: comments, reviews, files, pulls, issues …

    def _made(self) -> tuple[int, Any]:
        new_id = next(self._ids)
        return 200, {
            "id": new_id,
            "number": new_id,
            "html_url": f"https://github.com/dry-run/{new_id}",
            "body": "",
            "user": {"login": LOGIN, "type": "Bot"},
        }

    @staticmethod
    def _item(full: str, kind: str, number: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "number": number,
            "title": "(dry run)",
            "body": "",
            "state": "open",
            "draft": False,
            "user": {"login": "dry-run", "type": "User"},
            "html_url": f"https://github.com/{full}/{kind}/{number}",
        }
        if kind == "pulls":
            item["head"] = {"sha": "0" * 40, "ref": "dry-run", "repo": {"full_name": full}}
            item["base"] = {"ref": "main", "repo": {"full_name": full}}
        return item

    async def sleep(self, seconds: float) -> None:
        return None


class DryRunAccess(GitHubAccess):
    """Stands in for `GitHubAccess`: every job gets the same printing client, and no token for git."""

    def __init__(self, client: DryRunGitHub) -> None:
        super().__init__(base_url=client.base_url, bot_login=LOGIN)
        self.client = client

    async def api(
        self, session: aiohttp.ClientSession, installation_id: int | None, *, scope: Scope | None = None
    ) -> Any:
        return self.client

    async def identity(self, session: aiohttp.ClientSession) -> Identity:
        return Identity(logins=frozenset({LOGIN}))

    async def git_token(
        self, session: aiohttp.ClientSession, installation_id: int | None, *, scope: Scope | None = None
    ) -> str:
        raise DryRunStop("dry run: stopped before cloning the repository (a real run clones it and goes on).")


class DryRunModel:
    """A model that is never asked: the dry run ends where the first model call would be."""

    async def chat(self, request: ChatRequest) -> Reply:
        raise DryRunStop(
            f"dry run: stopped before asking the model `{request.model}` (a real run asks it and goes on)."
        )

"""What one job's installation token may do: the one repository it works on, and the permissions its kind needs.

GitHub mints an installation token for a subset of the installation's repositories and permissions when the
request names them (`POST /app/installations/{id}/access_tokens` with `repositories` and `permissions`).
Each job asks for the least its kind needs, so a token that leaks from a job (a log line, a crash report, a
model that talks it out of a tool) reaches one repository, read-only where the job only reads:

| `token` of the row | contents | issues | pull_requests | why |
|---|---|---|---|---|
| `push` (`fix`) | write | write | write | clone and push `equitr/…`; status and error comments; open or update the PR |
| `review` | read | – | write | `.equitr.toml`, compare; the review, its inline comments, the summary comment |
| `read` (`ask`, …) | read | write | read | clone and read; read the thread (an issue or a PR); post the answer |
| `comment` (run control) | – | write | – | `help`, `status`, `cancel`, `cost`: one comment |

`metadata: read` comes with every token (repository, default branch, collaborator permission).
`retry` first runs as run control, then as the kind it retries, with that kind's token. A job kind with no row
in `equitr.events.commands.COMMANDS` gets COMMENT_ONLY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from equitr.events.commands import COMMANDS, TokenNeed

Level = str  # "read" | "write"

COMMENT_ONLY: dict[str, Level] = {"issues": "write"}
NEEDS: dict[TokenNeed, dict[str, Level]] = {
    "push": {"contents": "write", "issues": "write", "pull_requests": "write"},
    "review": {"contents": "read", "pull_requests": "write"},
    "read": {"contents": "read", "issues": "write", "pull_requests": "read"},
    "comment": COMMENT_ONLY,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Repositories (names within the installation's account) and permissions of one token; hashable, so it
    is part of the token cache's key."""

    repositories: tuple[str, ...] = ()
    permissions: tuple[tuple[str, Level], ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON body of the token request (empty: every repository and permission of the installation)."""
        body: dict[str, Any] = {}
        if self.repositories:
            body["repositories"] = list(self.repositories)
        if self.permissions:
            body["permissions"] = dict(self.permissions)
        return body

    def describe(self) -> str:
        where = ", ".join(self.repositories) or "every repository"
        what = ", ".join(f"{name}: {level}" for name, level in self.permissions) or "every permission"
        return f"{where} ({what})"


def for_job(kind: str, repo: str) -> Scope:
    """The token scope of a job of `kind` on `repo` (`owner/name`)."""
    spec = COMMANDS.get(kind)
    permissions = NEEDS[spec.token] if spec is not None else COMMENT_ONLY
    name = repo.split("/", 1)[-1]
    return Scope(repositories=(name,), permissions=tuple(sorted(permissions.items())))


# The webhook side (permission checks, the 👀 reaction, the trigger label from `.equitr.toml`) answers for every
# repository of an installation with one cached token: it reads and reacts, and must never be able to push.
WEBHOOK = Scope(permissions=(("contents", "read"), ("issues", "write"), ("metadata", "read")))

"""Comments equitr writes: each carries a hidden marker `<!-- equitr:KIND:ID -->` so it is found again and
edited in place instead of posted twice."""

from __future__ import annotations

import re
from typing import Any, Literal

from gidgethub.abc import GitHubAPI

from bot.sanitize import publishable

Kind = Literal["status", "error", "review-summary", "answer"]
_MARKER = re.compile(r"<!-- equitr:([a-z-]+):([A-Za-z0-9._#@/-]+) -->")


def marker(kind: Kind, ident: str | int) -> str:
    return f"<!-- equitr:{kind}:{ident} -->"


def find_marker(body: str) -> tuple[str, str] | None:
    match = _MARKER.search(body or "")
    return (match.group(1), match.group(2)) if match else None


def render(kind: Kind, ident: str | int, body: str) -> str:
    """The final text of a comment: redacted, no image off GitHub (`bot.sanitize.publishable`; model text in
    `body` is sanitised where it was placed), with its marker first so it survives edits below it."""
    return f"{marker(kind, ident)}\n{publishable(body)}"


async def find_comment(gh: GitHubAPI, repo: str, number: int, kind: Kind, ident: str | int) -> dict[str, Any] | None:
    wanted = marker(kind, ident)
    async for comment in gh.getiter(f"/repos/{repo}/issues/{number}/comments?per_page=100"):
        if wanted in (comment.get("body") or ""):
            return dict(comment)
    return None


async def upsert(
    gh: GitHubAPI, repo: str, number: int, kind: Kind, ident: str | int, body: str, *, comment_id: int | None = None
) -> dict[str, Any]:
    """Edit our comment for (kind, ident) if it exists, else create it. Returns the comment."""
    text = render(kind, ident, body)
    if comment_id is None:
        existing = await find_comment(gh, repo, number, kind, ident)
        comment_id = existing["id"] if existing else None
    if comment_id is not None:
        return dict(await gh.patch(f"/repos/{repo}/issues/comments/{comment_id}", data={"body": text}))
    return dict(await gh.post(f"/repos/{repo}/issues/{number}/comments", data={"body": text}))

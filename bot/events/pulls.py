"""Automatic review when a pull request is opened, marked ready for review, or gets new commits.

Whether a draft, a bot's or an outsider's fork pull request is reviewed is the repository's choice
(`[review]` of `.equitr.toml`), which only the job can read: the decision here leaves out only closed pull
requests and equitr's own, and records what the job needs to decide."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from equitr.events.context import Routed
from equitr.events.decisions import Fields, Identity, Trigger, installation_id, is_equitr, repo_name

router = Router()
REVIEW_ACTIONS = frozenset({"opened", "ready_for_review", "synchronize", "reopened"})


@router.register("pull_request")
async def on_pull_request(event: sansio.Event, routed: Routed) -> None:
    routed.add(decide(Fields(event.data), identity=routed.identity))


def decide(payload: Fields, *, identity: Identity) -> Trigger | None:
    action = payload.text("action")
    if action not in REVIEW_ACTIONS:
        return None
    pr = payload.obj("pull_request")
    repo = repo_name(payload)
    number = pr.number("number")
    sha = pr.obj("head").text("sha")
    if repo is None or number is None or sha is None:
        return None
    if pr.text("state") == "closed" or _by_equitr(payload, pr, identity):
        return None
    draft = pr.flag("draft")
    head_repo = pr.obj("head").obj("repo")
    return Trigger(
        kind="review",
        repo=repo,
        number=number,
        requester=pr.obj("user").text("login") or "",
        installation_id=installation_id(payload),
        # Automatic reviews are the repository's choice (installing the App), not the author's request.
        needs_permission=False,
        is_pull_request=True,
        # A draft skipped by configuration is reviewed once it is marked ready, even at the same commit.
        dedupe_keys=(f"review:{repo}#{number}@{sha}" + (":draft" if draft else ""),),
        args={
            "head_sha": sha,
            "auto": True,
            "action": action,
            "title": pr.text("title") or "",
            "draft": draft,
            # From a fork (or a deleted one): its automatic reviews have their own budget.
            "fork": not head_repo or head_repo.text("full_name") != repo,
        },
    )


def _by_equitr(payload: Fields, pr: Fields, identity: Identity) -> bool:
    """Pull requests equitr opened or pushed to are never reviewed automatically (loop guard)."""
    sender = (payload.obj("sender").text("login") or "").lower()
    return sender in identity.logins or is_equitr(pr, identity)

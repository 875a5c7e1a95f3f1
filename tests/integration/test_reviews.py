"""Reviews as a maintainer meets them (issue #9): `/equitr review` of a head that already has its review
answers with a link (B16); the review after a push comments only on what the push changed (B14)."""

from __future__ import annotations

import json

from tests.fakes.fixtures import fake_github, github_app_key
from tests.fakes.github import fake_sha
from tests.integration.test_repo_settings import NO_COMMENTS, REPO, SUMMARY, Bench, add_pull, bench, pull_event

__all__ = ["bench", "fake_github", "github_app_key"]  # fixtures used below


async def test_review_of_an_already_reviewed_head_replies_with_a_link(bench: Bench) -> None:
    number = add_pull(bench)
    bench.model.script += [SUMMARY, NO_COMMENTS]
    _, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert (await bench.run(answer)).state == "done"
    (review,) = bench.fake.pull_reviews(REPO, number)

    status, answer = await bench.command("/equitr review", number=number)
    assert status == 202
    outcome = await bench.run(answer)

    assert outcome.state == "done" and "already reviewed" in outcome.reason
    assert len(bench.fake.pull_reviews(REPO, number)) == 1 and len(bench.model.seen) == 2  # no second review
    replies = [c["body"] for c in bench.fake.issue_comments(REPO, number) if "already reviewed" in c["body"]]
    assert len(replies) == 1, bench.fake.issue_comments(REPO, number)
    head = bench.fake.pull(REPO, number)["head"]["sha"]
    assert f"@alice equitr already reviewed the head commit `{head[:10]}`" in replies[0]
    assert f"[its review]({review['html_url']})" in replies[0]
    assert "push new commits and comment `/equitr review` again" in replies[0]


FIRST = "@@ -1,3 +1,4 @@\n def add(a, b):\n-    return a + b\n+    total = a - b\n+    return total\n \n"
# After the push: the pull request's diff against its base, and the push alone (last reviewed head → head).
WHOLE = FIRST + "+def sub(a, b):\n+    return a - b\n"
PUSHED = "@@ -2,3 +2,5 @@\n     total = a - b\n     return total\n \n+def sub(a, b):\n+    return a - b\n"


def proposals(*lines: int) -> str:
    return json.dumps({"comments": [{"line": n, "body": f"A problem on line {n}."} for n in lines]})


async def test_the_review_after_a_push_comments_only_on_what_the_push_changed(bench: Bench) -> None:
    number = add_pull(bench)
    bench.fake.set_pull_files(REPO, number, [{"filename": "calc.py", "patch": FIRST}])
    bench.model.script += [SUMMARY, proposals(2)]
    _, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert (await bench.run(answer)).state == "done"
    first = bench.fake.pull(REPO, number)["head"]["sha"]

    # A push adds sub(); lines 1-4 stay as they were.
    second = fake_sha("second push")
    bench.fake.set_branch(REPO, bench.fake.pull(REPO, number)["head"]["ref"], second)
    bench.fake.set_pull_files(REPO, number, [{"filename": "calc.py", "patch": WHOLE}])
    entry = {**bench.fake.repo(REPO).pull_files[number][0], "patch": PUSHED}
    bench.fake.set_compare(REPO, f"{first}...{second}", files=[entry])
    bench.model.script += [SUMMARY, proposals(2, 6)]  # the model repeats its comment on line 2
    status, answer = await bench.deliver("pull_request", pull_event(bench, number, action="synchronize"))
    assert status == 202, answer
    assert (await bench.run(answer)).state == "done"

    reviews = bench.fake.pull_reviews(REPO, number)
    assert len(reviews) == 2 and "Incremental review of the commits after" in reviews[1]["body"]
    inline = sorted((c["pull_request_review_id"], c["line"]) for c in bench.fake.review_comments.values())
    assert inline == [(reviews[0]["id"], 2), (reviews[1]["id"], 6)]  # line 2 is not commented on again
    assert "1 proposed comment(s) were dropped" in reviews[1]["body"]
    # The model was shown the push, not the whole pull request again.
    shown = bench.model.seen[-1][1][-1].content
    assert "+def sub(a, b):" in shown and "-    return a + b" not in shown

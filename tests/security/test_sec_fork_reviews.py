"""A4b: outsiders' fork pull requests do not spend the repository's money unless it opts in, and then only
from their own monthly budget, so that they can never use up the budget maintainers' commands live on.

Signed `pull_request` deliveries into the real app and runner, a fake GitHub that answers the
collaborator-permission API, and a scripted model that charges for each call.
"""

from __future__ import annotations

import pytest

from tests.fakes.fixtures import fake_github, github_app_key
from tests.fakes.github import fake_sha
from tests.integration.test_repo_settings import NO_COMMENTS, REPO, SUMMARY, Bench, add_pull, bench, pull_event

__all__ = ["bench", "fake_github", "github_app_key"]  # fixtures used below


async def test_an_outsiders_fork_pull_request_is_not_reviewed_automatically(bench: Bench) -> None:
    bench.fake.set_permission(REPO, "mallory", "none")
    number = add_pull(bench, user="mallory", fork="mallory/repo")
    outcomes = []
    for push in range(3):  # opened, then two pushes
        if push:
            bench.fake.set_branch(REPO, bench.fake.pull(REPO, number)["head"]["ref"], fake_sha("push", push))
        status, answer = await bench.deliver(
            "pull_request", pull_event(bench, number, action="synchronize" if push else "opened")
        )
        assert status == 202, answer
        outcomes.append(await bench.run(answer))
    assert all(o.state == "done" and "review.auto_forks" in o.reason and o.cost_usd == 0 for o in outcomes)
    assert bench.model.seen == [] and bench.fake.pull_reviews(REPO, number) == []
    asked = bench.fake.calls_for("repos/get-collaborator-permission-level")
    assert asked and all(c.path.endswith("/collaborators/mallory/permission") for c in asked)
    # A maintainer can still ask for one.
    bench.model.script += [SUMMARY, NO_COMMENTS]
    _, answer = await bench.command("/equitr review", number=number)
    assert (await bench.run(answer)).state == "done"
    assert len(bench.fake.pull_reviews(REPO, number)) == 1


async def test_a_maintainers_fork_pull_request_is_reviewed(bench: Bench) -> None:
    number = add_pull(bench, user="alice", fork="alice/repo")
    bench.model.script += [SUMMARY, NO_COMMENTS]
    _, answer = await bench.deliver("pull_request", pull_event(bench, number))
    assert (await bench.run(answer)).state == "done"
    assert len(bench.fake.pull_reviews(REPO, number)) == 1


async def test_opted_in_fork_reviews_have_their_own_budget(bench: Bench) -> None:
    bench.config(
        "[budget]\nper_job_usd = 0.05\nmax_flag_usd = 0.05\nper_month_usd = 0.05\n\n"
        "[review]\nauto_forks = true\nforks_per_month_usd = 0.06\n"
    )
    bench.model.cost_per_call = 0.03
    number = add_pull(bench, user="mallory", fork="mallory/repo")
    bench.model.script += [SUMMARY, NO_COMMENTS]
    _, answer = await bench.deliver("pull_request", pull_event(bench, number))
    first = await bench.run(answer)
    assert first.state == "done" and first.cost_usd == pytest.approx(0.06), first
    # The fork budget of the month is spent: the next push is not reviewed.
    bench.fake.set_branch(REPO, bench.fake.pull(REPO, number)["head"]["ref"], fake_sha("push"))
    _, answer = await bench.deliver("pull_request", pull_event(bench, number, action="synchronize"))
    second = await bench.run(answer)
    assert second.state == "done" and "`review.forks_per_month_usd` is used up" in second.reason
    assert len(bench.fake.pull_reviews(REPO, number)) == 1
    # $0.06 spent on fork reviews is more than budget.per_month_usd, yet maintainers' work goes on.
    own = add_pull(bench, user="alice")
    bench.model.script += [SUMMARY, NO_COMMENTS]
    _, answer = await bench.command("/equitr review", number=own)
    outcome = await bench.run(answer)
    assert outcome.state == "done" and outcome.reason.startswith("reviewed"), outcome

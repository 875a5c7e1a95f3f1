"""The PerformanceMonitor's record of a job, after a signed webhook drove it through the real app, runner,
sandbox and git remote (a fake GitHub checked against GitHub's OpenAPI description, a scripted model)."""

from __future__ import annotations

from pathlib import Path

from bot.monitor import JobRecord
from bot.services import web_url
from tests.integration import test_github_e2e as e2e
from tests.integration.test_github_e2e import ACCEPT, PLAN, REPO, World, comment, push_to_default_branch, run_job

world = e2e.world  # the fixture: app, runner, fake GitHub, git remote, scripted model


def stored(w: World, job_id: int) -> JobRecord:
    record = w.services.store.record(job_id)
    assert record is not None
    return record


async def test_a_fix_records_its_phases_calls_and_outcome(world: World, tmp_path: Path) -> None:
    w = world
    install = "python -m pip install --quiet --no-index --find-links wheels dep-pkg"
    push_to_default_branch(
        w,
        tmp_path,
        {".equitr.toml": f'[fix]\nsetup_command = "{install}"\n', "conftest.py": "import dep_pkg\n"},
        wheels=True,
    )
    w.model.script += ["Sure! ```json\n" + PLAN + "\n```", ACCEPT]  # a fenced plan: the layer repairs it
    w.model.cost_per_call = 0.0125
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    record = stored(w, job_id)
    assert record.job_id == job_id

    names = [p.name for p in record.phases]
    for name in ("queue_wait", "checkout", "setup", "plan", "step", "tests_before", "tests_after", "review", "push"):
        assert name in names, (name, names)
    assert names[0] == "queue_wait" and names[-1] == "comment"
    assert sorted(p.detail for p in record.phases if p.name == "step") == ["1", "2"]
    assert all(p.seconds >= 0 and p.started_at > 0 for p in record.phases)

    calls = record.model_calls
    model = "openai/gpt-4.1-mini"
    assert [(c.model, c.role) for c in calls] == [(model, "supervisor"), (model, "reviewer")]
    assert all(c.mode == "json_schema" and c.retries == 0 and not c.fallback for c in calls)
    assert calls[0].repairs and all(c.tokens_in > 0 and c.tokens_out > 0 for c in calls)

    gh = record.github_calls
    assert gh and all(c.route.startswith("/") and "octo" not in c.route for c in gh)
    routes = {(c.method, c.route, c.status) for c in gh}
    assert ("POST", "/repos/{owner}/{repo}/pulls", 201) in routes
    assert ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 201) in routes
    assert any(c.rate_remaining is not None for c in gh)

    out = record.outcome
    assert out is not None and out.error is None
    assert [(p["tool"], p["subject"]) for p in out.plan] == [("search", "def mean"), ("file:edit", "mathutil.py")]
    assert [t["step"] for t in out.trajectory] == list(range(1, len(out.trajectory) + 1))
    assert any("mathutil.py" in t["summary"] for t in out.trajectory)
    assert "len(values)" in out.diff
    assert out.tests_before is not None and "failed" in out.tests_before["summary"]
    assert out.tests_after is not None and "passed" in out.tests_after["summary"]
    assert {(c["model"], c["role"]) for c in out.cost_by_model_role} == {
        ("openai/gpt-4.1-mini", "supervisor"),
        ("openai/gpt-4.1-mini", "reviewer"),
    }
    assert sum(c["cost_usd"] for c in out.cost_by_model_role) == record.cost_usd == 0.025
    assert out.repairs and sum(out.repairs.values()) == len(calls[0].repairs)
    links = out.links
    assert links["issue_url"] == f"{web_url(w.services.settings.github_api_url)}/{REPO}/issues/1"
    assert links["pr_url"] and "/pull/" in links["pr_url"]
    assert links["comment_url"] and links["comment_url"].startswith(f"{links['issue_url']}#issuecomment-")

    # Listed for the dashboard with its job.
    ((job, again),) = w.services.store.records(since=0, repo=REPO)
    assert job.id == job_id and again == record


async def test_a_failed_job_keeps_its_record_and_error(world: World) -> None:
    w = world
    w.model.cost_per_call = 0.03
    w.model.script += ["I will look around first."] * 5  # no plan in it: re-asked, then the keyword fallback
    _, answer = await comment(w, "/equitr fix --budget 0.05")
    job_id = answer["jobs"][0]
    outcome = await run_job(w, answer)
    assert outcome.state == "failed", outcome
    record = stored(w, job_id)
    assert record.outcome is not None and record.outcome.error
    assert "budget" in record.outcome.error.lower()
    assert [p.name for p in record.phases][-1] == "comment"
    assert len(record.model_calls) == 2 and record.cost_usd == 0.06  # every call, up to the one over budget
    assert all(c.role == "supervisor" for c in record.model_calls)

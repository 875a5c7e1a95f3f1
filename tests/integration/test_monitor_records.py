"""The PerformanceMonitor's record of a job, after a signed webhook drove it through the real app, runner,
sandbox and git remote (a fake GitHub checked against GitHub's OpenAPI description, a scripted model)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from equitr.models.types import Reply, ToolCall
from equitr.monitor.records import JobRecord
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, comment_payload, headers
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
    assert links["issue_url"] == f"{w.services.settings.web_url}/{REPO}/issues/1"
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


async def test_metrics_after_a_scripted_fix_match_its_record(world: World) -> None:
    w = world
    w.model.script += ["Sure! ```json\n" + PLAN + "\n```", ACCEPT]
    w.model.cost_per_call = 0.0125
    token = "metrics-" + "t0ken" * 4
    async with aiohttp.ClientSession() as session:
        github = services_mod.session_factory(w.services, session)
        app = create_app(
            dispatcher=w.services.dispatcher(github), secret=SECRET, metrics_token=token, store=w.services.store
        )
        made = w.fake.add_comment(REPO, 1, "/equitr fix", user="alice")
        data = comment_payload(REPO, number=1, comment_id=made["id"], body="/equitr fix", issue=w.fake.issue(REPO, 1))
        raw = json.dumps(data).encode()
        status, answer = await call(app, "POST", "/webhook", body=raw, headers=headers(raw, "issue_comment", "d-m1"))
        assert status == 202
        outcome = await run_job(w, answer)
        assert outcome.state == "done", outcome
        record = stored(w, answer["jobs"][0])
        status, text = await call(app, "GET", "/metrics", headers={"authorization": f"Bearer {token}"})
    assert status == 200
    families = list(text_string_to_metric_families(text))  # prometheus-client's own parser: no error
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}

    assert got["equitr_jobs_finished_total", (("kind", "fix"), ("outcome", "done"))] == 1
    assert got["equitr_jobs", (("state", "running"),)] == 0 and got["equitr_queue_depth", ()] == 0
    for phase in {p.name for p in record.phases}:
        count = sum(1 for p in record.phases if p.name == phase)
        assert got["equitr_phase_duration_seconds_count", (("phase", phase),)] == count, phase
    model = "openai/gpt-4.1-mini"
    for role in ("supervisor", "reviewer"):
        calls = [c for c in record.model_calls if c.role == role]
        who = (("model", model), ("role", role))
        assert got["equitr_model_calls_total", who] == len(calls)
        assert got["equitr_model_tokens_total", (("direction", "in"), *who)] == sum(c.tokens_in for c in calls)
        assert got["equitr_model_tokens_total", (("direction", "out"), *who)] == sum(c.tokens_out for c in calls)
        assert got["equitr_model_cost_usd_total", who] == pytest.approx(0.0125)
        assert got["equitr_model_latency_seconds_count", who] == len(calls)
    for kind, n in (record.outcome.repairs if record.outcome else {}).items():
        assert got["equitr_interpretation_repairs_total", (("kind", kind), ("model", model))] == n
    assert sum(v for (name, _), v in got.items() if name == "equitr_interpretation_repairs_total") > 0
    gh_total = sum(v for (name, _), v in got.items() if name == "equitr_github_calls_total")
    assert gh_total == len(record.github_calls)
    last = [c.rate_remaining for c in record.github_calls if c.rate_remaining is not None][-1]
    assert got["equitr_github_rate_limit_remaining", (("installation", "7"),)] == last
    assert got["equitr_webhook_seconds_count", ()] == 1
    assert got["equitr_webhook_requests_total", (("status", "202"),)] == 1


async def test_a_review_records_its_review_phase_reviewer_calls_and_pull_request(world: World) -> None:
    w = world
    w.model.script += ["- Adds `add()`", json.dumps({"comments": [{"line": 2, "body": "This subtracts."}]})]
    status, answer = await e2e.open_pr(w)
    assert status == 202
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    record = stored(w, answer["jobs"][0])
    assert "review" in [p.name for p in record.phases]
    assert record.model_calls and {c.role for c in record.model_calls} == {"reviewer"}
    assert record.outcome is not None
    assert record.outcome.links["pr_url"] == f"{w.services.settings.web_url}/{REPO}/pull/2"
    assert ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", 200) in {
        (c.method, c.route, c.status) for c in record.github_calls
    }


async def test_a_job_given_up_after_crashing_its_workers_has_a_record_and_counts_as_failed(world: World) -> None:
    w = world
    _, answer = await comment(w, "/equitr fix")
    job_id = answer["jobs"][0]
    store = w.services.store
    for attempt in range(3):  # three workers, each killed mid-job, each job taken up again by the sweeper
        assert store.claim(job_id, f"dead-host:{attempt}:1", 0.01) is not None
        assert store.requeue(job_id, f"dead-host:{attempt}:1")
    assert await w.run(job_id) is None  # the fourth claim gives it up
    assert await w.run(job_id) is None  # and a second look adds nothing
    record = stored(w, job_id)
    assert record.outcome is not None and "gave up after 3 attempts" in (record.outcome.error or "")
    finished = [v for k, v in store.metric_values().items() if k.startswith('["equitr_jobs_finished"')]
    assert finished == [1]


async def test_the_tools_strategy_records_tools_mode_and_a_plan_per_decision(world: World, tmp_path: Path) -> None:
    w = world
    push_to_default_branch(w, tmp_path, {".equitr.toml": '[models]\nstrategy = "tools"\n'})
    edit = {"action": "edit", "path": "mathutil.py", "search": "(len(values) + 1)", "replace": "len(values)"}
    w.model.script += [
        Reply(content="", model="", tool_calls=(ToolCall("file", json.dumps(edit), "c1"),)),
        Reply(content="mean() divided by one too many; fixed.", model=""),
        ACCEPT,
    ]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "done", outcome
    record = stored(w, answer["jobs"][0])
    assert [(c.role, c.mode) for c in record.model_calls] == [
        ("supervisor", "tools"),
        ("supervisor", "tools"),
        ("reviewer", "json_schema"),
    ]
    names = [p.name for p in record.phases]
    assert names.count("plan") == 2 and names.count("step") == 1 and "tests_after" in names

"""`/metrics` of a scale-out setup: `equitr serve --no-workers` takes the webhooks, two `equitr worker`
processes share a real Redis and run `/equitr ask` jobs (a real checkout from a git remote on loopback, the
sandbox, a scripted OpenAI-compatible model server), and the totals `serve` shows are every worker's jobs, each
counted once, parsed with prometheus-client's own parser."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from equitr.jobs.store.redis import RedisStore
from equitr.sandbox import binaries
from tests.conftest import SECRET, comment_payload, make_repo
from tests.fakes.fixtures import AppKey
from tests.fakes.git_remote import GitRemote
from tests.fakes.github import FakeGitHub
from tests.fakes.model_server import ModelServer, serve
from tests.integration.test_serve_process import REPO, Server, wait_for

TOKEN = "metrics-" + "t0ken" * 4
JOBS = 6


# One reply serves as the plan and as the answer, so that jobs running at once may take the script's replies in
# any order: a read-only plan (a search), and for the answer call, text to post.
REPLY = json.dumps({"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "def mean"}}]})
MODEL = "openai-compatible/scripted"


async def test_two_workers_over_redis_add_up_in_the_metrics(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, redis_url: str
) -> None:
    with GitRemote(tmp_path / "served", token_ok=lambda t: t in fake_github.tokens) as remote, serve() as model:
        bare = remote.add_bare(f"{REPO}.git", make_repo(tmp_path))
        fake_github.add_repo(REPO)
        fake_github.link_git_remote(REPO, str(bare), clone_url=remote.url(f"{REPO}.git"))
        model.script[:] = [REPLY] * (2 * JOBS)
        await scale_out(tmp_path, fake_github, github_app_key, redis_url, model)


async def scale_out(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, redis_url: str, model: ModelServer
) -> None:
    fake_github.add_installation(7, repos=[REPO])
    comments = []
    for n in range(1, JOBS + 1):
        fake_github.add_issue(REPO, title=f"issue {n}", user="alice")
        comments.append(fake_github.add_comment(REPO, n, "/equitr ask why is mean() wrong?", user="alice"))
        # Each job's first read waits a second (GitHub says so): the jobs overlap, so both workers take some.
        fake_github.fail_next("GET", f"/repos/{REPO}/issues/{n}/comments", status=503, headers={"retry-after": "1"})
    fake_github.set_permission(REPO, "alice", "admin")
    db = str(redis_url.rsplit("/", 1)[0] + "/4")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))},
        "GH_APP_ID": str(github_app_key.app_id),
        "GH_PRIVATE_KEY": github_app_key.pem.get_secret_value(),
        "GH_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.base_url,
        "EQUITR_QUEUE_URL": db,
        "EQUITR_DB": str(tmp_path / "unused.db"),
        "EQUITR_METRICS_TOKEN": TOKEN,
        "EQUITR_WORKERS": "1",
        "EQUITR_WORKDIR": str(tmp_path / "work"),
        "EQUITR_SANDBOX": "bwrap" if binaries.bwrap().path else "none",
        "EQUITR_SUPERVISOR_MODEL": MODEL,
        "EQUITR_WORKER_MODEL": MODEL,
        "OPENAI_BASE_URL": model.url,
    }
    web = Server(env, tmp_path / "web.log")
    web.start_args = ["--no-workers"]
    await web.start()
    logs = [tmp_path / f"worker-{i}.log" for i in (1, 2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "equitr", "worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        for log in logs
    ]
    store = RedisStore(db)
    try:
        ids = []
        for n, made in enumerate(comments, 1):
            data = comment_payload(REPO, number=n, comment_id=made["id"], body="/equitr ask why is mean() wrong?")
            status, answer = await web.post("issue_comment", data, f"ask-{n}")
            assert status == 202, answer
            ids += answer["jobs"]

        def all_done() -> bool:
            return all((job := store.get(i)) is not None and job.state == "done" for i in ids)

        await wait_for(all_done, timeout=120)
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{web.port}/metrics", headers={"authorization": f"Bearer {TOKEN}"}
            ) as r,
        ):
            assert r.status == 200
            text = await r.text()
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.wait(30)
        web.stop()
    # Both processes ran jobs (so the totals below add up two processes' work).
    ran = [set(re.findall(r"job (\d+) \(ask", log.read_text())) for log in logs]
    assert all(ran) and ran[0] | ran[1] == {str(i) for i in ids}, ran

    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    records = [store.record(i) for i in ids]
    store.close()
    assert all(r is not None for r in records)
    assert got["equitr_jobs_finished_total", (("kind", "ask"), ("outcome", "done"))] == JOBS
    assert got["equitr_job_duration_seconds_count", (("kind", "ask"), ("outcome", "done"))] == JOBS
    for phase in ("queue_wait", "checkout", "plan", "comment"):
        assert got["equitr_phase_duration_seconds_count", (("phase", phase),)] == JOBS, phase
    assert got["equitr_phase_duration_seconds_count", (("phase", "step"),)] == JOBS  # one search step each
    who = (("model", MODEL), ("role", "supervisor"))
    assert got["equitr_model_calls_total", who] == 2 * JOBS  # the plan and the answer of each job
    assert got["equitr_model_tokens_total", (("direction", "in"), *who)] == 2 * JOBS * 100  # the server's usage
    out = sum(c.tokens_out for r in records if r is not None for c in r.model_calls)
    assert got["equitr_model_tokens_total", (("direction", "out"), *who)] == out
    assert got["equitr_model_latency_seconds_count", who] == 2 * JOBS
    assert got["equitr_model_cost_usd_total", who] == 0  # a self-hosted model: no price
    comments_route = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert got["equitr_github_calls_total", (("method", "GET"), ("route", comments_route), ("status", "503"))] == JOBS
    calls = sum(len(r.github_calls) for r in records if r is not None)
    assert sum(v for (name, _), v in got.items() if name == "equitr_github_calls_total") == calls
    assert got["equitr_jobs", (("state", "running"),)] == 0 and got["equitr_jobs", (("state", "queued"),)] == 0
    assert got["equitr_queue_depth", ()] == 0 and got["equitr_queue_oldest_age_seconds", ()] == 0
    assert got["equitr_webhook_requests_total", (("status", "202"),)] == JOBS
    for log in logs:
        assert "Traceback" not in log.read_text()

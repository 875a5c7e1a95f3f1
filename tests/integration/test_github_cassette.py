"""`/equitr plan` and `/equitr fix` end to end with **recorded real model traffic**: SmolLM2 served by
llama.cpp's OpenAI-compatible server, through the real `ModelClient`, replayed with vcrpy (recording off).
GitHub is the OpenAPI-checked fake, git a real remote on loopback.

Re-record (needs the `local` extra and `llama-cpp-python[server]`):
    python -m llama_cpp.server --model "$(python -c 'from equitr.models.local import smollm2_path as p; print(p())')" \\
        --model_alias smollm2 --host 127.0.0.1 --port 8011 --n_ctx 8192 &
    EQUITR_RECORD=1 python -m pytest tests/integration/test_github_cassette.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import vcr

from equitr.handlers.handlers import WorkEnv
from equitr.handlers.handlers import handlers as work_handlers
from equitr.web import services as services_mod
from tests.conftest import make_repo
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub
from tests.fakes.world import REPO, app_settings, deliver_comment, seed, served, serving, workspace

CASSETTES = Path(__file__).parents[2] / "cassettes" / "e2e"
MODEL_PORT = 8011
RECORD = os.environ.get("EQUITR_RECORD") == "1"


def only_the_model(request: Any) -> Any:
    """Record (and match) only the model server's traffic; GitHub and git go to their local fakes."""
    return request if f":{MODEL_PORT}/" in request.uri else None


_TIMINGS = re.compile(rb"\d+\.\d+ ?s\b")


def same_body_but_timings(r1: Any, r2: Any) -> None:
    """Test output in prompts carries durations ("2 passed in 0.68s"); everything else must be identical."""
    a, b = (_TIMINGS.sub(b"T", _raw(r.body)) for r in (r1, r2))
    assert a == b, "request bodies differ"


def _raw(body: Any) -> bytes:
    if isinstance(body, (dict, list)):  # the aiohttp stub keeps a `json=` payload as the object
        return json.dumps(body, sort_keys=True).encode()
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        try:
            return json.dumps(json.loads(body), sort_keys=True).encode()
        except ValueError:
            return body
    return b""


RECORDER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "uri", "body_but_timings"],
    filter_headers=["authorization", "x-api-key"],
    before_record_request=only_the_model,
    decode_compressed_response=True,
)
RECORDER.register_matcher("body_but_timings", same_body_but_timings)


@pytest.fixture
async def world(tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey) -> AsyncIterator[Any]:
    seed(
        fake_github,
        title="mean() returns the wrong value",
        body="mean([1, 2, 3]) gives 1.5 instead of 2.0; see mathutil.py",
        permission="write",
    )
    with served(tmp_path, fake_github, make_repo(tmp_path)):
        settings = app_settings(
            tmp_path,
            fake_github,
            github_app_key,
            **workspace(tmp_path),
            EQUITR_SUPERVISOR_MODEL="openai-compatible/smollm2",
            OPENAI_BASE_URL=f"http://127.0.0.1:{MODEL_PORT}/v1",
            OPENAI_API_KEY="sk-" + "recording-placeholder-not-a-key",
        )
        services = services_mod.build(settings)
        runner = services.runner(
            work_handlers(WorkEnv(settings=settings, access=services.access, workdir=tmp_path / "work"))
        )
        async with serving(services) as app:
            yield app, runner, fake_github


async def command(app: Any, fake: FakeGitHub, body: str) -> list[int]:
    status, answer = await deliver_comment(app, fake, body)
    assert status == 202, answer
    return list(answer["jobs"])


def played(cassette: Any) -> None:
    """Real replies were played back, every one of them (none invented); when recording, some were recorded."""
    if RECORD:
        assert len(cassette) >= 1
    else:
        assert cassette.play_count >= 1 and cassette.all_played


def ref(runner: Any, job_id: int) -> str:
    """The ID of a job's comment markers (its uid)."""
    return str(runner.store.get(job_id).ref)


async def test_plan_with_recorded_smollm2(world: Any) -> None:
    app, runner, fake = world
    (job_id,) = await command(app, fake, "/equitr plan")
    with RECORDER.use_cassette("plan-smollm2.yaml") as cassette:
        outcome = await runner.run(job_id)
    assert outcome is not None and outcome.state == "done", outcome
    played(cassette)
    mark = f"<!-- equitr:answer:{ref(runner, job_id)} -->"
    (answer,) = [c["body"] for c in fake.issue_comments(REPO, 1) if mark in c["body"]]
    assert "### equitr plan" in answer and "- [ ] " in answer and "Estimated cost" in answer
    assert "Interpretation layer:" in answer
    print(answer)


async def test_fix_with_recorded_smollm2_ends_with_a_clear_status(world: Any) -> None:
    """SmolLM2 (135M) in the recorded run proposes no change that applies, so the job ends `failed` with the
    reason, under a "stopped" status, and opens no pull request. A re-recording that gets further changes
    this outcome on purpose: then assert the new one, here."""
    app, runner, fake = world
    (job_id,) = await command(app, fake, "/equitr fix --budget 1")
    with RECORDER.use_cassette("fix-smollm2.yaml") as cassette:
        outcome = await runner.run(job_id)
    assert outcome is not None, outcome
    assert (outcome.state, outcome.reason) == ("failed", "no change was made to the repository"), outcome
    played(cassette)
    assert not fake.calls_for("pulls/create")
    mark = f"<!-- equitr:status:{ref(runner, job_id)} -->"
    (status,) = [c["body"] for c in fake.issue_comments(REPO, 1) if mark in c["body"]]
    assert "### ⏸️ equitr `fix` — stopped" in status
    assert "| openai-compatible/smollm2 | supervisor |" in status
    assert "Traceback" not in status
    print(status)

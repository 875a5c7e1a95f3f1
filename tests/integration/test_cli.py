"""The command line as a user runs it: real processes, real files, no GitHub."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import payload
from tests.fakes.openai_server import OpenAIServer

COMMANDS = ["serve", "worker", "jobs", "replay", "run", "models", "interpret", "doctor", "action", "dashboard"]


def equitr(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "equitr", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_everywhere(command: str, tmp_path: Path) -> None:
    proc = equitr(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "usage: equitr" in proc.stdout


def test_replay_dry_run_goes_through_the_server_path(tmp_path: Path) -> None:
    data = payload("issue_comment", "created")
    data["comment"]["body"] = "/equitr help"
    (tmp_path / "comment.json").write_text(json.dumps(data))
    proc = equitr("replay", "--event", "issue_comment", "comment.json", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "POST /webhook → 202" in proc.stdout
    assert (
        "[dry-run] GET https://api.github.com/repos/Codertocat/Hello-World/collaborators/Codertocat/permission"
        in proc.stdout
    )
    assert "/reactions" in proc.stdout and "→ done: help posted" in proc.stdout
    assert not (tmp_path / "equitr.db").exists()  # a dry run leaves nothing behind


@pytest.mark.parametrize(
    ("command", "on_pull", "stop"),
    [
        ("/equitr fix", False, "stopped before cloning"),
        ("/equitr plan", False, "stopped before cloning"),
        ("/equitr ask why?", False, "stopped before cloning"),
        ("/equitr review", True, "stopped before asking the model"),
    ],
)
def test_replay_dry_run_of_model_work_goes_as_far_as_it_can(
    tmp_path: Path, command: str, on_pull: bool, stop: str
) -> None:
    """B12: the dry run's GitHub answered `GET /repos/…` without `default_branch` (KeyError). It now answers
    in GitHub's shapes, and a job ends `done` where a real run would clone or call a model."""
    data = payload("issue_comment", "created")
    data["comment"]["body"] = command
    if on_pull:
        data["issue"]["pull_request"] = {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
    (tmp_path / "comment.json").write_text(json.dumps(data))
    proc = equitr("replay", "--event", "issue_comment", "comment.json", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "POST /webhook → 202" in proc.stdout
    assert "[dry-run] GET https://api.github.com/repos/Codertocat/Hello-World/contents/.equitr.toml" in proc.stdout
    assert f"→ done: dry run: {stop}" in proc.stdout, proc.stdout
    assert "internal error" not in proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "equitr.db").exists()


def test_replay_of_bad_input_is_a_clear_4xx(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    proc = equitr("replay", "--event", "issues", "list.json", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 1 and "400" in proc.stdout and "Traceback" not in proc.stderr
    proc = equitr("replay", "--event", "issues", "missing.json", cwd=tmp_path)
    assert proc.returncode == 1 and "cannot read missing.json" in proc.stderr


def test_serve_refuses_an_empty_secret(tmp_path: Path) -> None:
    proc = equitr("serve", cwd=tmp_path, env={"GH_APP_ID": "1", "GH_PRIVATE_KEY": "x", "GH_SECRET": ""})
    assert proc.returncode == 1
    assert "GH_SECRET is set but empty" in proc.stderr and "Traceback" not in proc.stderr


async def test_jobs_json_and_doctor(tmp_path: Path) -> None:
    proc = equitr("jobs", "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    # The model is one a local server serves, so the outcome does not hang on which extras this machine has
    # (the embedded default needs the `local` extra).
    async with OpenAIServer(reply=lambda _: "", models=("tiny",)) as server:
        served = {"EQUITR_SUPERVISOR_MODEL": "openai-compatible/tiny", "OPENAI_BASE_URL": server.url}
        proc = await asyncio.to_thread(equitr, "doctor", cwd=tmp_path, env=served)
    assert proc.returncode == 0, proc.stdout  # local mode: warnings, nothing failing
    answer = f"the OpenAI-compatible server at {server.url} serves tiny"
    assert f"✓ model (supervisor): openai-compatible/tiny: {answer}" in proc.stdout
    assert "✓ settings: loaded (mode: local)" in proc.stdout and "! github:" in proc.stdout
    assert "✓ queue: sqlite" in proc.stdout
    if shutil.which("slirp4netns"):
        assert "✓ setup network: setup commands get a network namespace of their own through slirp4netns" in proc.stdout
    host = equitr("doctor", cwd=tmp_path, env={"EQUITR_SETUP_NETWORK": "host"})
    assert "! setup network: EQUITR_SETUP_NETWORK=host: setup commands reach the host's loopback" in host.stdout
    assert "✓ dashboard: off" in proc.stdout and "EQUITR_DASHBOARD_TOKEN" in proc.stdout
    on = equitr("doctor", cwd=tmp_path, env={"EQUITR_DASHBOARD_TOKEN": "x" * 20})
    assert "✓ dashboard: /dashboard with token" in on.stdout
    short = equitr("doctor", cwd=tmp_path, env={"EQUITR_DASHBOARD_TOKEN": "short"})
    assert short.returncode == 1 and "✗ dashboard: EQUITR_DASHBOARD_TOKEN is shorter than 16" in short.stdout
    bad = equitr(
        "doctor",
        cwd=tmp_path,
        env={"GH_APP_ID": "1", "GH_SECRET": "s3cret-value", "EQUITR_SUPERVISOR_MODEL": "openai/gpt-41-mini"},
    )
    assert bad.returncode == 1
    assert "✗ webhook server: GH_PRIVATE_KEY is not set" in bad.stdout
    assert "openai/gpt-4.1-mini" in bad.stdout  # the closest valid model name


@pytest.mark.parametrize("args", [["jobs"], ["models", "list"], ["report"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(args: list[str], tmp_path: Path) -> None:
    """B18: `equitr jobs | head` — the reader is gone before equitr writes: no BrokenPipeError traceback,
    and the exit status a shell tool has when SIGPIPE ends it."""
    read, write = os.pipe()
    os.close(read)  # like `head` after its lines: every write to this pipe fails
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_", "OPENAI_"))}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "equitr", *args],
            cwd=tmp_path,
            env=base,
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write)
    assert proc.stderr.decode() == ""
    assert proc.returncode == 141


def test_doctor_with_github_unreachable_says_what_an_operator_does(tmp_path: Path) -> None:
    """B19: doctor's advice is for the operator running it, never a `/equitr …` comment for a job."""
    from tests.conftest import free_port

    env = {"GITHUB_TOKEN": "ghp_" + "x" * 36, "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}"}
    proc = equitr("doctor", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("✗ github:")]
    assert "Could not reach GitHub" in line
    assert "fix: check the network, or GITHUB_API_URL" in proc.stdout
    assert "/equitr" not in proc.stdout and "Traceback" not in proc.stderr

"""The flags of `equitr run` that change how the agent works (`--strategy auto|plan|tools`, `--transcript`),
through the command itself against an OpenAI-compatible server on loopback answering from a script (not a
real model). `models.strategy` of `.equitr.toml` is tested through a signed webhook in test_github_e2e.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_repo
from tests.fakes.answer_server import ModelServer, tool_call

EDIT = json.dumps({"action": "edit", "path": "mathutil.py", "search": "(len(values) + 1)", "replace": "len(values)"})
PLAN = json.dumps(
    {"execution_steps": [{"step": 1, "tool": "file", "parameters": json.loads(EDIT), "dependencies": []}]}
)
ACCEPT = '{"decision": "accept", "reason": "mean divides by the count"}'


def scripted(*, calls_tools_natively: bool) -> Any:
    """Answers like a capable model would, by what each request asks for."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        names = [t["function"]["name"] for t in request.get("tools", [])]
        if names == ["record_answer"]:  # the probe: does this server call tools natively?
            if calls_tools_natively:
                return {"tool_calls": [tool_call("record_answer", '{"ok": true}')]}
            return {"content": "Yes, water is wet."}
        if names:  # the tool-calling strategy
            if messages[-1]["role"] == "tool":
                return {"content": "mean() divided by one too many; fixed."}
            return {"tool_calls": [tool_call("file", EDIT)]}
        if "You plan work" in system:
            return {"content": PLAN}
        return {"content": ACCEPT}

    return answer


def equitr_run(repo: Path, server: ModelServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_", "OPENAI_"))}
    env |= {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-" + "scripted-not-a-key",
        "EQUITR_WORKDIR": str(repo.parent / "work"),
        "EQUITR_SANDBOX": "bwrap" if shutil.which("bwrap") else "none",
    }
    cmd = [sys.executable, "-m", "equitr", "run", "--repo", str(repo), "--model", "openai-compatible/scripted", *args]
    return subprocess.run([*cmd, "mean() is off by one"], capture_output=True, text=True, env=env, timeout=300)


def offered_tools(server: ModelServer) -> list[list[str]]:
    return [[t["function"]["name"] for t in r["tools"]] for r in server.requests if r.get("tools")]


@pytest.mark.parametrize(
    ("flag", "native", "expected"),
    [
        ("tools", False, "tools"),  # asked for: used, though the probe would have said no
        ("plan", True, "plan"),  # asked for: used, though the server calls tools
        ("auto", True, "tools"),
        ("auto", False, "plan"),
    ],
)
def test_equitr_run_strategy(tmp_path: Path, flag: str, native: bool, expected: str) -> None:
    repo = make_repo(tmp_path)
    with ModelServer(scripted(calls_tools_natively=native)) as server:
        proc = equitr_run(repo, server, "--strategy", flag)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"strategy: {expected}" in proc.stdout and "result: accepted" in proc.stdout
    conversation = [names for names in offered_tools(server) if names != ["record_answer"]]
    probed = ["record_answer"] in offered_tools(server)
    assert probed == (flag == "auto")  # only `auto` asks the server what it can do
    if expected == "tools":
        assert conversation and conversation[0] == ["search", "file", "git", "run"]
    else:
        assert conversation == []


def test_an_unknown_strategy_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "equitr", "run", "--repo", str(tmp_path), "--strategy", "magic", "x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "invalid choice: 'magic'" in proc.stderr


def test_equitr_run_transcript_writes_every_call(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    transcript = tmp_path / "calls.jsonl"
    with ModelServer(scripted(calls_tools_natively=False)) as server:
        proc = equitr_run(repo, server, "--strategy", "plan", "--transcript", str(transcript))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [c["purpose"] for c in calls] == ["plan", "review"]
    planned = next(r for r in server.requests if r["messages"][0]["role"] == "system")  # after the JSON probe
    assert calls[0]["messages"] == planned["messages"]  # exactly what went over the wire
    assert calls[0]["reply"] == PLAN and f"transcript of 2 model calls: {transcript}" in proc.stdout

"""What a process probes about a model (structured output, native tool calling) is kept in the work directory's
`capabilities.json`, so the next `equitr` process on the machine does not probe again: two `equitr run`s one
after the other against an OpenAI-compatible server on loopback. A broken cache file is logged, never fatal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from equitr.models.capabilities import PROBE_PROMPT, TOOL_PROBE_PROMPT
from tests.conftest import make_repo
from tests.fakes.answer_server import ModelServer
from tests.integration.test_run_flags import equitr_run, scripted


def probes(requests: list[dict[str, Any]]) -> list[str]:
    """Which probes the requests were: "json" (structured output) and "tools" (native tool calling)."""
    found = []
    for request in requests:
        text = " ".join(str(m.get("content")) for m in request["messages"])
        if PROBE_PROMPT in text:
            found.append("json")
        if TOOL_PROBE_PROMPT in text:
            found.append("tools")
    return found


def test_a_second_process_sends_no_probe(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with ModelServer(scripted(calls_tools_natively=False)) as server:
        first = equitr_run(repo, server, "--strategy", "auto")
        assert first.returncode == 0, first.stdout + first.stderr
        assert sorted(set(probes(server.requests))) == ["json", "tools"]
        asked = len(server.requests)
        second = equitr_run(repo, server, "--strategy", "auto")
        assert second.returncode == 0, second.stdout + second.stderr
        later = server.requests[asked:]
    assert later and probes(later) == []  # the plan and the review, and no probe
    assert "strategy: plan" in second.stdout and "result: accepted" in second.stdout
    cache = json.loads((repo.parent / "work" / "capabilities.json").read_text())
    key = f"{server.base_url.rstrip('/')}|scripted"
    assert cache["tools"][key]["supported"] is False and key in cache["modes"]


def test_a_corrupt_or_unreadable_cache_is_logged_and_probed_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = repo.parent / "work" / "capabilities.json"
    cache.parent.mkdir(mode=0o700)
    cache.write_text('{"modes": {"half a fi')
    with ModelServer(scripted(calls_tools_natively=False)) as server:
        corrupt = equitr_run(repo, server, "--strategy", "auto")
        assert corrupt.returncode == 0, corrupt.stdout + corrupt.stderr
        assert "capability cache" in corrupt.stderr and "probed again" in corrupt.stderr
        assert "Traceback" not in corrupt.stderr
        assert sorted(set(probes(server.requests))) == ["json", "tools"]
        assert "modes" in json.loads(cache.read_text())  # rewritten whole
        cache.unlink()
        cache.mkdir()  # a path that can be neither read nor replaced
        asked = len(server.requests)
        unreadable = equitr_run(repo, server, "--strategy", "auto")
        assert unreadable.returncode == 0, unreadable.stdout + unreadable.stderr
        assert "capability cache" in unreadable.stderr and "Traceback" not in unreadable.stderr
        assert sorted(set(probes(server.requests[asked:]))) == ["json", "tools"]

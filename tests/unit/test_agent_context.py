"""What the models are shown: the supervisor's planning context, the worker's edit prompt, retries, and the
rules that keep the loop from overriding a correct model. Real repositories, real test runs in the sandbox,
a deterministic scripted model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from equitr.agent.loop import Agent, Task
from equitr.config.flags import Limits
from equitr.models.types import Message
from equitr.tools.base import ToolContext
from tests.conftest import make_repo
from tests.fakes.scripted_model import ScriptedModel, routed

SANDBOX = "bwrap" if shutil.which("bwrap") else "none"

# The bug is in pricing.py; the issue names only the checkout, the traceback runs through both.
SHOP = {
    "shop/__init__.py": "",
    "shop/cart.py": (
        "from shop.pricing import unit_price\n\n\n"
        "def total(items):\n"
        '    """The price of all items: (name, quantity) pairs."""\n'
        "    return sum(unit_price(name) * qty for name, qty in items)\n"
    ),
    "shop/pricing.py": (
        'PRICES = {"apple": 3, "pear": 5}\n\n\n'
        "def unit_price(name):\n"
        '    """The price of one item."""\n'
        "    return PRICES[name.upper()]\n"
    ),
    "test_cart.py": (
        "import unittest\n\nfrom shop.cart import total\n\n\n"
        "class TotalTest(unittest.TestCase):\n"
        "    def test_total(self):\n"
        '        self.assertEqual(total([("apple", 2), ("pear", 1)]), 11)\n\n\n'
        'if __name__ == "__main__":\n    unittest.main()\n'
    ),
}
ISSUE = "The checkout total crashes for every basket."
FIX = "<<<<<<< SEARCH\n    return PRICES[name.upper()]\n=======\n    return PRICES[name]\n>>>>>>> REPLACE"
ACCEPT = '{"decision": "accept", "reason": "unit_price looks names up as given"}'


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    source = tmp_path / "src"
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return make_repo(tmp_path, source)


def agent(root: Path, model: ScriptedModel, *, test_command: str = "python -m unittest -q", **kw: Any) -> Agent:
    tools = ToolContext(root=root, sandbox_mode=SANDBOX, test_command=test_command)  # type: ignore[arg-type]
    return Agent(model=model, supervisor="s/strong", worker="w/weak", tools=tools, **kw)


def plan(*steps: dict[str, Any]) -> str:
    return json.dumps({"execution_steps": [{"step": i, "dependencies": [], **s} for i, s in enumerate(steps, 1)]})


def edit_step(path: str, description: str = "", **params: str) -> dict[str, Any]:
    step: dict[str, Any] = {"tool": "file", "parameters": {"action": "edit", "path": path, **params}}
    if description:
        step["description"] = description
    return step


def calls(model: ScriptedModel, kind: str) -> list[list[Message]]:
    marker = {"plan": "You plan work", "edit": "careful programmer", "review": "supervisor of a coding agent"}[kind]
    return [messages for _, messages in model.seen if marker in messages[0].content]


async def test_the_supervisor_sees_stderr_the_traceback_the_code_and_a_ranked_map(tmp_path: Path) -> None:
    """`python -m unittest` writes its whole report to stderr: it reaches the planning prompt, with the code
    at the innermost frame and a map that puts the module the traceback ends in first."""
    model = routed(
        plans=[plan(edit_step("shop/pricing.py", "unit_price must look the name up as given, not upper-cased"))],
        edits=[FIX],
        reviews=[ACCEPT],
    )
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted", result.reason
    system, user = (m.content for m in calls(model, "plan")[0])
    assert "KeyError: 'APPLE'" in user and 'File "/workspace/shop/pricing.py", line 6, in unit_price' in user
    assert "## The code where the failure happens" in user
    assert "    6 |     return PRICES[name.upper()]" in user  # the innermost frame's line, numbered
    repo_map = system.split("Repository files:\n", 1)[1]
    assert repo_map.index("shop/pricing.py") < repo_map.index("shop/__init__.py")
    assert "      4: def unit_price(name):" in repo_map  # definitions with their lines


async def test_the_step_instruction_reaches_the_worker_with_the_issue_and_the_failure(tmp_path: Path) -> None:
    model = routed(
        plans=[plan(edit_step("shop/pricing.py", "unit_price must look the name up as given, not upper-cased"))],
        edits=[FIX],
        reviews=[ACCEPT],
    )
    await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    (worker,) = calls(model, "edit")
    prompt = worker[-1].content
    assert prompt.startswith("Instruction: unit_price must look the name up as given, not upper-cased")
    assert f"The issue:\n{ISSUE}" in prompt
    assert "KeyError: 'APPLE'" in prompt  # the failing output, from stderr
    assert "    6 |     return PRICES[name.upper()]" in prompt and "NO CHANGE NEEDED" in worker[0].content


async def test_a_plan_following_the_traceback_is_kept_not_replaced(tmp_path: Path) -> None:
    """The issue names no file; the plan reads and edits the module the traceback ends in: relevant."""
    model = routed(
        plans=[
            plan(
                {"tool": "file", "parameters": {"action": "read", "path": "shop/pricing.py"}},
                edit_step("shop/pricing.py", "do not upper-case the name"),
            ),
        ],
        edits=[FIX],
        reviews=[ACCEPT],
    )
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted" and result.ledger.fallbacks == 0
    assert "plan_replaced" not in result.ledger.repairs


async def test_replanning_after_revise_sees_the_reason_the_new_failure_and_the_change(tmp_path: Path) -> None:
    half = "<<<<<<< SEARCH\n    return PRICES[name.upper()]\n=======\n    return PRICES[name.title()]\n>>>>>>> REPLACE"
    model = routed(
        plans=[plan(edit_step("shop/pricing.py", "fix the key")), plan(edit_step("shop/pricing.py", "use name"))],
        edits=[half, FIX.replace("upper", "title")],
        reviews=['{"decision": "revise", "reason": "title() is just as wrong: the keys are lower case"}', ACCEPT],
    )
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted" and result.iterations == 2
    second = calls(model, "plan")[1][-1].content
    assert "## The review of the last attempt\ntitle() is just as wrong: the keys are lower case" in second
    assert "## The tests fail after the last change" in second and "KeyError: 'Apple'" in second
    assert "+    return PRICES[name.title()]" in second  # the change so far
    # the worker of the second round is told the review too
    assert "title() is just as wrong" in calls(model, "edit")[1][-1].content


async def test_a_plan_that_only_looked_is_followed_by_a_plan_that_sees_what_it_found(tmp_path: Path) -> None:
    model = routed(
        plans=[
            plan({"tool": "search", "parameters": {"query": "def unit_price"}}),
            plan(edit_step("shop/pricing.py", "do not upper-case the name")),
        ],
        edits=[FIX],
        reviews=[ACCEPT],
    )
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted" and result.iterations == 1
    again = calls(model, "plan")[1][-1].content
    assert "## What the steps so far found\n### search(query='def unit_price')" in again
    assert "shop/pricing.py:4:def unit_price(name):" in again


async def test_no_change_needed_is_an_answer_not_a_format_error(tmp_path: Path) -> None:
    model = routed(
        plans=[plan(edit_step("shop/cart.py", "check total()")), plan(edit_step("shop/pricing.py", "fix the key"))],
        edits=["NO CHANGE NEEDED: total() only multiplies what unit_price returns.", FIX],
        reviews=[ACCEPT],
    )
    result = await agent(repo(tmp_path, SHOP), model, limits=Limits(max_iterations=2)).run(Task(ISSUE))
    assert result.status == "accepted" and result.ledger.reasks == 0
    assert len(calls(model, "edit")) == 2  # one answer each: the first was not re-asked
    cart = next(e for e in result.trajectory if e.what == "edit shop/cart.py")
    assert cart.ok and cart.detail == "no change needed: total() only multiplies what unit_price returns."
    # what the worker said reaches the next plan
    assert "total() only multiplies what unit_price returns" in calls(model, "plan")[1][-1].content


async def test_a_retry_keeps_the_chat_well_formed(tmp_path: Path) -> None:
    wrong = "<<<<<<< SEARCH\n    return PRICES[name.lower()]\n=======\n    return PRICES[name]\n>>>>>>> REPLACE"
    model = routed(plans=[plan(edit_step("shop/pricing.py", "fix the key"))], edits=[wrong, FIX], reviews=[ACCEPT])
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted"
    first, second = calls(model, "edit")
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[:2] == first and second[2].content == wrong
    assert "could not be applied" in second[3].content and "was not found" in second[3].content


async def test_numbered_lines_copied_into_a_block_still_apply(tmp_path: Path) -> None:
    numbered = (
        "<<<<<<< SEARCH\n    6 |     return PRICES[name.upper()]\n=======\n    6 |     return PRICES[name]\n"
        ">>>>>>> REPLACE"
    )
    model = routed(plans=[plan(edit_step("shop/pricing.py", "fix"))], edits=[numbered], reviews=[ACCEPT])
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted" and "+    return PRICES[name]" in result.diff


async def test_a_corrected_function_in_a_code_block_is_used(tmp_path: Path) -> None:
    """What small models answer instead of SEARCH/REPLACE: the whole definition, fenced. It is applied when
    the definition exists in the file, and counted as a repair."""
    reply = (
        "Here is the fix:\n```python\ndef unit_price(name):\n"
        '    """The price of one item."""\n    return PRICES[name]\n```\n'
    )
    model = routed(plans=[plan(edit_step("shop/pricing.py", "fix"))], edits=[reply], reviews=[ACCEPT])
    result = await agent(repo(tmp_path, SHOP), model).run(Task(ISSUE))
    assert result.status == "accepted" and result.ledger.repairs["edit_salvaged"] == 1
    assert "+    return PRICES[name]" in result.diff


async def test_the_fallback_edit_targets_the_innermost_frame_and_is_never_repeated(tmp_path: Path) -> None:
    """Unusable plans: the worker is sent to the code that raised (pricing.py), not the caller (cart.py);
    the same request is not sent again in the next iteration."""
    model = routed(
        plans=["I cannot plan."] * 9,
        edits=["I do not know."] * 3,
        reviews=[],
    )
    result = await agent(repo(tmp_path, SHOP), model, limits=Limits(max_iterations=3)).run(Task(ISSUE))
    assert result.status == "stopped"
    edits = [e for e in result.trajectory if e.actor == "worker"]
    assert [e.what for e in edits] == ["edit shop/pricing.py"] * 3
    assert len(calls(model, "edit")) == 3  # one worker call (1 + 2 re-asks) in three iterations, not nine
    assert "not asked again" in edits[1].detail and "not asked again" in edits[2].detail


async def test_an_already_fixed_issue_ends_cleanly_without_an_edit(tmp_path: Path) -> None:
    files = dict(SHOP, **{"shop/pricing.py": SHOP["shop/pricing.py"].replace("name.upper()", "name")})
    model = routed(
        plans=[plan({"tool": "file", "parameters": {"action": "read", "path": "shop/pricing.py"}})] * 2,
    )
    result = await agent(repo(tmp_path, files), model).run(Task(ISSUE))
    assert result.status == "stopped" and result.nothing_to_change and not result.changed
    assert result.reason.startswith("Nothing to change: the tests pass without any change")
    assert calls(model, "edit") == [] and calls(model, "review") == []


async def test_a_long_file_is_shown_around_the_failure_not_refused(tmp_path: Path) -> None:
    """A bug in the middle of a 1,500-line module: the worker sees the lines around it, numbered."""
    filler = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(370))
    big = filler + "def scale(x):\n    return x * 3\n\n\n" + filler.replace("helper_", "more_")
    assert len(big.splitlines()) > 1500 and len(big) > 24_000
    files = {
        "calc.py": big,
        "test_calc.py": "from calc import scale\n\n\ndef test_scale():\n    assert scale(2) == 4\n",
        "pytest.ini": "[pytest]\n",
    }
    line = big.splitlines().index("    return x * 3") + 1
    fix = "<<<<<<< SEARCH\n    return x * 3\n=======\n    return x * 2\n>>>>>>> REPLACE"
    model = routed(plans=[plan(edit_step("calc.py", "scale doubles"))], edits=[fix], reviews=[ACCEPT])
    result = await agent(repo(tmp_path, files), model, test_command="python -m pytest -q").run(Task("scale() is off"))
    assert result.status == "accepted", result.reason
    prompt = calls(model, "edit")[0][-1].content
    assert f"{line:>5} |     return x * 3" in prompt and "not shown" in prompt
    assert "def helper_0(x)" not in prompt.split("Outline")[0]  # the start of the file is not what it sees
    assert len(prompt) < 20_000

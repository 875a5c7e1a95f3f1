"""The step instruction through the interpretation layer, and relevance judged from the evidence (the
request, the failure, the repository) rather than from a list of known example strings."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from equitr.interpret import PLAN_JSON_SCHEMA, Evidence, interpret, step_json
from equitr.interpret.relevance import check
from equitr.tools.file import FileParams
from equitr.tools.registry import Step
from equitr.tools.search import SearchParams

REPO = Evidence(
    failure='Traceback (most recent call last):\n  File "/workspace/shop/pricing.py", line 6, in unit_price\n'
    "KeyError: 'APPLE'",
    files=frozenset({"shop/__init__.py", "shop/cart.py", "shop/pricing.py", "test_cart.py", "README.md"}),
    pointed=("shop/pricing.py", "test_cart.py"),
    symbols=frozenset({"total", "unit_price", "PRICES"}),
)


def steps(*raw: dict[str, Any]) -> str:
    return json.dumps({"execution_steps": [{"step": i, **s} for i, s in enumerate(raw, 1)]})


# --- the step's instruction -----------------------------------------------------------------------------


def test_the_plan_schema_lets_a_step_carry_an_instruction() -> None:
    for branch in PLAN_JSON_SCHEMA["properties"]["execution_steps"]["items"]["anyOf"]:
        assert branch["properties"]["description"] == {"type": "string"}  # no maxLength: llama.cpp cannot
        assert "description" not in branch["required"]


@pytest.mark.parametrize(
    "step",
    [
        {"tool": "file", "parameters": {"action": "edit", "path": "a.py"}, "description": "drop the +1 in mean()"},
        {"tool": "file", "parameters": {"action": "edit", "path": "a.py"}, "instruction": "drop the +1 in mean()"},
        {"tool": "edit_file", "parameters": {"path": "a.py", "instructions": "drop the +1 in mean()"}},
        {"tool": "file", "parameters": {"action": "edit", "path": "a.py", "description": ["drop the +1", "in mean()"]}},
    ],
)
def test_the_instruction_survives_every_shape(step: dict[str, Any]) -> None:
    interp = interpret(steps(step), request="mean() is wrong in a.py")
    (only,) = interp.steps
    assert only.parameters == FileParams(action="edit", path="a.py")
    assert only.description == "drop the +1 in mean()"
    assert step_json(only)["description"] == "drop the +1 in mean()"
    assert not interp.errors


# --- relevance from the evidence -------------------------------------------------------------------------


def test_a_plan_following_the_traceback_is_relevant_though_the_issue_names_no_file() -> None:
    reply = steps(
        {"tool": "file", "parameters": {"action": "read", "path": "shop/pricing.py"}},
        {"tool": "file", "parameters": {"action": "edit", "path": "shop/pricing.py"}, "description": "keep case"},
    )
    request = "The `checkout` total crashes for every basket"
    interp = interpret(reply, request=request, evidence=REPO)
    assert not interp.fallback and [s.tool for s in interp.steps] == ["file", "file"]
    assert "plan_replaced" not in Counter(r.kind for r in interp.repairs)


def test_an_echo_of_any_example_is_replaced_by_a_plan_that_follows_the_traceback() -> None:
    """Nothing in the plan exists in the repository or relates to the request or the failure: whatever
    prompt it was copied from, it is replaced, and the keyword plan reads what the traceback points to."""
    echo = steps(
        {"tool": "search", "parameters": {"query": "week_start", "search_type": "symbol"}},
        {"tool": "file", "parameters": {"action": "read", "path": "app/dates.py"}},
    )
    interp = interpret(echo, request="The checkout total crashes for every basket", evidence=REPO)
    assert interp.fallback and Counter(r.kind for r in interp.repairs)["plan_replaced"] == 1
    assert FileParams(action="read", path="shop/pricing.py") in [s.parameters for s in interp.steps]


def test_without_evidence_an_echo_is_still_judged_by_the_request() -> None:
    echo = [
        Step(step=1, tool="search", parameters=SearchParams(query="load_data", search_type="symbol")),
        Step(step=2, tool="file", parameters=FileParams(action="read", path="utils/loader.py")),
    ]
    assert check(echo, "fix the off-by-one in `parse_url`").replaced
    assert not check(echo, "load_data drops the last row").replaced


@pytest.mark.parametrize("path", [".", "./", "x", "s/"])
def test_a_junk_path_when_the_request_names_a_file_does_not_pass(path: str) -> None:
    junk = steps({"tool": "file", "parameters": {"action": "read", "path": path}})
    interp = interpret(junk, request="mean() in mathutil.py is wrong")
    assert FileParams(action="read", path="mathutil.py") in [s.parameters for s in interp.steps]
    assert all(s.parameters != FileParams(action="read", path=path) for s in interp.steps)


def test_a_missing_file_beside_good_steps_is_dropped_and_counted() -> None:
    reply = steps(
        {"tool": "file", "parameters": {"action": "read", "path": "shop/pricing.py"}},
        {"tool": "file", "parameters": {"action": "read", "path": "src/config.py"}},
    )
    interp = interpret(reply, request="The checkout total crashes", evidence=REPO)
    assert [s.parameters.path for s in interp.steps] == ["shop/pricing.py"]  # type: ignore[union-attr]
    assert Counter(r.kind for r in interp.repairs)["step_dropped"] == 1 and not interp.fallback


def test_a_file_the_plan_creates_is_not_missing() -> None:
    reply = steps(
        {"tool": "file", "parameters": {"action": "write", "path": "shop/discounts.py", "content": "X = 1\n"}},
        {"tool": "file", "parameters": {"action": "read", "path": "shop/cart.py"}},
    )
    interp = interpret(reply, request="add discounts to the shop", evidence=REPO)
    assert len(interp.steps) == 2 and not interp.fallback


def test_an_echo_of_any_prompts_example_is_junk_unless_the_request_names_it() -> None:
    """Not a list of equitr's own example strings: whatever instructions the model was shown, a name or
    path copied from them that the request, the failure and the repository do not know is an echo."""
    instructions = (
        "Think first. Example answer: <think>I search first.</think> "
        '{"execution_steps": [{"step": 1, "tool": "search", "parameters": {"query": "load_data"}}]}'
    )
    echo = steps(
        {"tool": "search", "parameters": {"query": "load_data", "search_type": "symbol"}},
        {"tool": "file", "parameters": {"action": "read", "path": "utils.py"}},
    )
    shown = Evidence(instructions=instructions)
    interp = interpret(echo, request="fix the off-by-one in utils.py", evidence=shown)
    assert [s.parameters for s in interp.steps] == [FileParams(action="read", path="utils.py")]
    assert Counter(r.kind for r in interp.repairs)["step_dropped"] == 1
    assert len(interpret(echo, request="load_data drops the last row", evidence=shown).steps) == 2
    only_echo = steps({"tool": "search", "parameters": {"query": "load_data"}})
    assert interpret(only_echo, request="fix parse_url", evidence=shown).fallback


# SmolLM2's own plan from a recorded /equitr fix (cassettes/e2e): thirteen copies of one step, on a path of
# some machine it saw in training that ends in the name of the repository's test file.
MACHINE = "/Users/michael.doe/AppData/Roots/PyCharm/py-20.3/bin/pytest-python-5.7/test_cart.py"


def test_a_plan_on_paths_of_another_machine_is_replaced_though_they_end_in_a_name_the_request_gives() -> None:
    reply = steps(*[{"tool": "file", "parameters": {"action": "list", "path": MACHINE}}] * 13)
    interp = interpret(reply, request="test_cart.py fails: the checkout total crashes", evidence=REPO)
    assert interp.fallback and Counter(r.kind for r in interp.repairs)["plan_replaced"] == 1
    assert all(MACHINE not in str(s.parameters) for s in interp.steps)


def test_a_path_outside_the_repository_beside_good_steps_is_dropped_and_counted() -> None:
    read = {"tool": "file", "parameters": {"action": "read", "path": "shop/pricing.py"}}
    outside = {"tool": "file", "parameters": {"action": "read", "path": "C:\\Users\\me\\shop\\pricing.py"}}
    interp = interpret(steps(read, outside), request="The checkout total crashes", evidence=REPO)
    assert [s.parameters for s in interp.steps] == [FileParams(action="read", path="shop/pricing.py")]
    assert Counter(r.kind for r in interp.repairs)["step_dropped"] == 1 and not interp.fallback


def test_an_absolute_path_is_outside_even_when_the_repository_has_it_relative() -> None:
    """The file tool refuses absolute paths; a plan of nothing else is replaced by one that reads the file."""
    reply = steps({"tool": "file", "parameters": {"action": "read", "path": "/shop/pricing.py"}})
    interp = interpret(reply, request="The checkout total crashes in shop/pricing.py", evidence=REPO)
    assert interp.fallback and FileParams(action="read", path="shop/pricing.py") in [s.parameters for s in interp.steps]


def test_listing_a_directory_the_repository_lacks_is_junk() -> None:
    good = {"tool": "file", "parameters": {"action": "read", "path": "shop/cart.py"}}
    missing = {"tool": "file", "parameters": {"action": "list", "path": "src/app"}}
    interp = interpret(steps(good, missing), request="The checkout total crashes", evidence=REPO)
    assert [s.parameters for s in interp.steps] == [FileParams(action="read", path="shop/cart.py")]

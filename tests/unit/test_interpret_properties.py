"""Property-based tests: the layer is total, and what it returns always validates."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equitr.interpret import REPAIR_KINDS, Interpretation, _interpret, interpret
from equitr.models.types import Reply, ToolCall
from equitr.tools.registry import SPECS

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_invariants(interp: Interpretation) -> None:
    """Either a plan whose every step validates, or a fallback plan marked as such with ≥ 1 valid step."""
    assert isinstance(interp, Interpretation)
    assert interp.steps, "never an empty plan"
    if interp.fallback:
        assert any(r.kind == "fallback" for r in interp.repairs)
    numbers = [s.step for s in interp.steps]
    assert len(set(numbers)) == len(numbers)
    done: set[int] = set()
    for step in interp.steps:
        SPECS[step.tool].params.model_validate(step.parameters.model_dump())  # re-validate from scratch
        assert step.step not in step.dependencies
        assert set(step.dependencies) <= done, "steps come out in an executable order"
        done.add(step.step)
    assert {r.kind for r in interp.repairs} <= REPAIR_KINDS
    json.dumps(interp.to_json())


# The unguarded core is tested so a bug shows up here instead of being absorbed by interpret's guard.
@SETTINGS
@given(st.text(), st.text(max_size=200))
def test_any_text(text: str, request: str) -> None:
    check_invariants(_interpret(text, request=request, model="m"))


@SETTINGS
@given(st.binary(max_size=2000).map(lambda b: b.decode("utf-8", errors="replace")))
def test_any_bytes(text: str) -> None:
    check_invariants(_interpret(text, request="fix it", model=""))


@SETTINGS
@given(
    st.text(max_size=300),
    st.text(max_size=300),
    st.sampled_from([None, "stop", "length", "tool_calls"]),
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=80)), max_size=3),
)
def test_any_reply(content: str, thinking: str, finish: str | None, calls: list[tuple[str, str]]) -> None:
    reply = Reply(
        content=content,
        thinking=thinking,
        model="m",
        finish_reason=finish,
        tool_calls=tuple(ToolCall(n, a) for n, a in calls),
    )
    check_invariants(_interpret(reply, request="run the tests", model=""))


# --- generated plans with the names small models use ----------------------------------------------------

WORD = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
PATH = st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8}){0,2}\.py", fullmatch=True)

TOOL_NAMES = {
    "search": ["search", "grep", "rg", "search_code", "find", "Search", "searchCode"],
    "read": ["read_file", "cat", "readFile", "view_file", "open_file"],
    "list": ["list_files", "ls", "tree", "list_dir"],
    "log": ["git_log", "history"],
    "run": ["run", "test", "pytest", "run_tests", "shell", "bash"],
}
QUERY_KEYS = ["query", "pattern", "search_term", "q", "term", "text", "keyword", "searchTerm", "Pattern", "search-term"]
PATH_KEYS = ["path", "filename", "file_path", "file", "filepath", "path_name", "filePath", "FILE_PATH"]
TYPE_KEYS = ["search_type", "type", "searchType", "kind"]
TYPE_VALUES = {
    "text": ["text", "grep", "literal", "string"],
    "regex": ["regex", "regexp", "re"],
    "symbol": ["symbol", "function", "class", "def"],
}
STEP_KEYS = ["parameters", "params", "arguments", "args", "input"]
TOOL_KEYS = ["tool", "name", "tool_name", "function"]


@st.composite
def aliased_step(draw: st.DrawFn) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(raw step as a model might write it, expected tool, expected parameters subset)."""
    kind = draw(st.sampled_from(sorted(TOOL_NAMES)))
    name = draw(st.sampled_from(TOOL_NAMES[kind]))
    params: dict[str, Any]
    if kind == "search":
        query = draw(WORD)
        params = {draw(st.sampled_from(QUERY_KEYS)): query}
        expected: dict[str, Any] = {"query": query}
        if draw(st.booleans()):
            canon = draw(st.sampled_from(sorted(TYPE_VALUES)))
            params[draw(st.sampled_from(TYPE_KEYS))] = draw(st.sampled_from(TYPE_VALUES[canon]))
            expected["search_type"] = canon
        tool = "search"
    elif kind in ("read", "list"):
        path = draw(PATH)
        params = {draw(st.sampled_from(PATH_KEYS)): path}
        expected = {"action": kind, "path": path}
        tool = "file"
    elif kind == "log":
        n = draw(st.integers(1, 200))
        params = {draw(st.sampled_from(["max_count", "n", "limit", "count"])): draw(st.sampled_from([n, str(n)]))}
        expected = {"action": "log", "max_count": n}
        tool = "git"
    else:
        params = {}
        expected = {}
        tool = "run"
    if draw(st.booleans()):
        params[draw(st.sampled_from(["verbose", "color", "explanation_text"]))] = True  # extra keys to drop
    as_string = draw(st.booleans())
    raw: dict[str, Any] = {
        draw(st.sampled_from(TOOL_KEYS)): name,
        draw(st.sampled_from(STEP_KEYS)): json.dumps(params) if as_string else params,
    }
    return raw, tool, expected


WRAPS = [
    "{}",
    "Here is the plan:\n{}\nDone.",
    "```json\n{}\n```",
    "<think>Let me think about it.</think>\n{}",
    "<tool_call>{}</tool_call>",
    "Sure!\n\n```\n{}\n```\nHope this helps",
]


@st.composite
def aliased_plan(draw: st.DrawFn) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    steps = draw(st.lists(aliased_step(), min_size=1, max_size=5))
    shape = draw(st.sampled_from(["execution_steps", "steps", "plan", "list", "single"]))
    raws = [raw for raw, _, _ in steps]
    if shape == "single":
        raws = raws[:1]
        steps = steps[:1]
        body: Any = raws[0]
    elif shape == "list":
        body = raws
    else:
        body = {shape: raws}
    text = json.dumps(body)
    # the way small models break JSON: single quotes, trailing commas (not inside nested JSON strings)
    if draw(st.booleans()) and "'" not in text and "\\" not in text and '"{' not in text:
        text = text.replace('"', "'").replace("}", ",}")
    return draw(st.sampled_from(WRAPS)).replace("{}", text), [(tool, exp) for _, tool, exp in steps]


@SETTINGS
@given(aliased_plan())
def test_aliased_plans_are_understood(generated: tuple[str, list[tuple[str, dict[str, Any]]]]) -> None:
    text, expected = generated
    interp = _interpret(text, request="", model="m")
    check_invariants(interp)
    assert not interp.fallback, (text, interp.errors)
    assert interp.errors == ()
    assert len(interp.steps) == len(expected)
    for step, (tool, params) in zip(interp.steps, expected, strict=True):
        assert step.tool == tool
        dumped = step.parameters.model_dump()
        assert {k: dumped[k] for k in params} == params


@SETTINGS
@given(aliased_plan(), st.integers(min_value=1, max_value=400))
def test_truncated_generated_plans(generated: tuple[str, list[tuple[str, dict[str, Any]]]], cut: int) -> None:
    text, expected = generated
    reply = Reply(content=text[: max(1, len(text) - cut)], model="m", finish_reason="length")
    interp = _interpret(reply, request="", model="m")
    check_invariants(interp)
    assert interp.truncated
    # nothing that was cut is executed: every step kept is one of the steps written in full
    if not interp.fallback:
        assert len(interp.steps) <= len(expected)
        for step, (tool, params) in zip(interp.steps, expected, strict=False):
            assert step.tool == tool
            dumped = step.parameters.model_dump()
            assert {k: dumped[k] for k in params} == params


@SETTINGS
@given(st.text(max_size=500))
def test_public_interpret_total(text: str) -> None:
    check_invariants(interpret(text, request=text[:50]))

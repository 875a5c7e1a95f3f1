"""Finding the plan in a reply: scanning, tags, fences, XML and Python calls, prose, truncation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from equitr.interpret.callsyntax import python_calls, xml_calls
from equitr.interpret.candidates import Candidate, find_steps, from_text, native
from equitr.interpret.repair import complete_objects, parse
from equitr.interpret.scan import scan, top_level
from equitr.models.types import ToolCall

STEP = {"step": 1, "tool": "search", "parameters": {"query": "foo"}, "dependencies": []}


def first(text: str, *, truncated: bool = False) -> Candidate:
    return next(from_text(text, truncated=truncated))


def kinds(c: Candidate) -> list[str]:
    return [k for k, _ in c.found]


# --- scan -----------------------------------------------------------------------------------------------


def test_scan_ignores_brackets_in_strings() -> None:
    text = 'x {"a": "}{][", "b": [1, {"c": "\\"}"}]} y'
    spans = top_level(scan(text))
    assert len(spans) == 1
    assert json.loads(text[spans[0][0] : spans[0][1]])["a"] == "}{]["


def test_scan_apostrophes_in_prose_do_not_open_strings() -> None:
    text = "Here's the plan: {'tool': 'search'} and that's it {\"x\": 1}"
    spans = top_level(scan(text))
    assert [text[s:e] for s, e in spans] == ["{'tool': 'search'}", '{"x": 1}']


def test_scan_reports_unclosed_openers() -> None:
    result = scan('prose {"a": [1, {"b": 2}')
    assert result.unclosed == (6, 12)
    assert any(d == 2 for _, _, d in result.closed)


def test_scan_parentheses() -> None:
    text = 'search(query="a)b", n=(1, 2)) tail ( never'
    result = scan(text, brackets="(")
    assert [text[s:e] for s, e in top_level(result)] == ['search(query="a)b", n=(1, 2))'[6:]]
    assert result.unclosed == (text.index("( never"),)


# --- repair ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "repaired"),
    [
        ('{"a": 1}', {"a": 1}, False),
        ("{'a': 'x', 'b': True,}", {"a": "x", "b": True}, True),
        ('{"a": [1, 2', {"a": [1, 2]}, True),
        ("[1, 2,]", [1, 2], True),
    ],
)
def test_parse(text: str, value: Any, repaired: bool) -> None:
    assert parse(text) == (value, repaired)


@pytest.mark.parametrize("text", ["", "   ", "hello world", "[[[[" * 5000, "{" * 100_000])
def test_parse_gives_up_quietly(text: str) -> None:
    assert parse(text) is None


def test_complete_objects_only_counts_objects_closed_in_the_text() -> None:
    done = complete_objects('[{"a": 1}, {"b": {"c": 2}}, {"d": "cut')
    assert '{"a": 1}' in done
    assert '{"c": 2}' in done
    assert '{"b": {"c": 2}}' in done
    assert not any('"d"' in d for d in done)


# --- shapes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"execution_steps": [STEP]},
        [STEP],
        STEP,
        {"steps": [STEP]},
        {"plan": [STEP]},
        {"plan": {"execution_steps": [STEP]}},
        {"executionSteps": [STEP]},
        {"execution_steps": json.dumps([STEP])},
        {"response": {"execution_steps": [STEP]}},
        [{"execution_steps": [STEP]}],
    ],
)
def test_find_steps_accepts_plan_shapes(value: Any) -> None:
    assert find_steps(value) == [STEP]


@pytest.mark.parametrize(
    "value",
    [
        {"tool": "search", "parameters": {"query": "x"}},
        {"name": "search", "arguments": '{"query": "x"}'},
        {"type": "function", "function": {"name": "search", "arguments": "{}"}},
        {"action": "search", "action_input": {"query": "x"}},
        {"query": "x"},
    ],
)
def test_find_steps_single_step_shapes(value: Any) -> None:
    assert find_steps(value) == [value]


@pytest.mark.parametrize("value", [1, "text", None, [], [1, 2], {"a": 1, "b": 2}, {"path": "x"}])
def test_find_steps_rejects_non_plans(value: Any) -> None:
    assert find_steps(value) is None


# --- candidates -----------------------------------------------------------------------------------------


def test_native_tool_calls() -> None:
    c = native([ToolCall("search", '{"query": "foo"}'), ToolCall("read_file", "")], truncated=False)
    assert c is not None
    assert [s.data for s in c.steps] == [
        {"tool": "search", "parameters": {"query": "foo"}},
        {"tool": "read_file", "parameters": {}},
    ]
    assert all(s.complete for s in c.steps)


def test_native_truncated_arguments_are_incomplete() -> None:
    c = native([ToolCall("search", '{"query": "a"}'), ToolCall("search", '{"query": "fo')], truncated=True)
    assert c is not None
    assert [s.complete for s in c.steps] == [True, False]
    assert kinds(c) == ["json_repaired"]


def test_native_plan_in_arguments() -> None:
    c = native([ToolCall("submit_plan", json.dumps({"execution_steps": [STEP]}))], truncated=False)
    assert c is not None and [s.data for s in c.steps] == [STEP]


def test_tool_call_tags() -> None:
    text = (
        'I will search.\n<tool_call>\n{"name": "search", "arguments": {"query": "a"}}\n</tool_call>\n'
        '<tool_call>{"name": "read_file", "arguments": {"path": "b.py"}}</tool_call>'
    )
    c = first(text)
    assert kinds(c) == ["tool_call_tag"]
    assert [s.data["name"] for s in c.steps] == ["search", "read_file"]


def test_tool_call_tag_with_xml_inside() -> None:
    text = "<tool_call>\n<function=search>\n<parameter=query>\nfoo\n</parameter>\n</function>\n</tool_call>"
    c = first(text)
    assert kinds(c) == ["tool_call_tag"]
    assert c.steps[0].data == {"tool": "search", "parameters": {"query": "foo"}}


def test_fenced_block_beats_other_json_in_prose() -> None:
    text = 'Options: {"x": 1}.\n```json\n{"execution_steps": [' + json.dumps(STEP) + "]}\n```\n"
    c = first(text)
    assert kinds(c) == ["fenced_block"]
    assert [s.data for s in c.steps] == [STEP]


def test_fenced_python_block_with_calls() -> None:
    c = first('```python\nsearch("foo")\nread_file("a.py", 1, 20)\n```')
    assert [s.data for s in c.steps] == [
        {"tool": "search", "parameters": {"query": "foo"}},
        {"tool": "read_file", "parameters": {"path": "a.py", "start_line": 1, "end_line": 20}},
    ]


def test_several_fences_single_steps_are_joined() -> None:
    a = {"tool": "search", "parameters": {"query": "a"}}
    b = {"tool": "search", "parameters": {"query": "b"}}
    text = f"First:\n```json\n{json.dumps(a)}\n```\nThen:\n```json\n{json.dumps(b)}\n```"
    assert [s.data for s in first(text).steps] == [a, b]


def test_of_several_full_plans_the_last_wins() -> None:
    p1 = {"execution_steps": [STEP, {**STEP, "step": 2}]}
    p2 = {"execution_steps": [{**STEP, "parameters": {"query": "better"}}, {**STEP, "step": 2}]}
    text = f"Draft: {json.dumps(p1)}\nWait, better: {json.dumps(p2)}"
    c = first(text)
    assert c.steps[0].data["parameters"] == {"query": "better"}


def test_xml_function_forms() -> None:
    qwen = "<function=file>\n<parameter=action>\nread\n</parameter>\n<parameter=path>\na.py\n</parameter>\n</function>"
    claude = (
        '<function_calls><invoke name="git_log"><parameter name="max_count">5</parameter></invoke></function_calls>'
    )
    assert xml_calls(qwen)[0].data == {"tool": "file", "parameters": {"action": "read", "path": "a.py"}}
    assert xml_calls(claude)[0].data == {"tool": "git_log", "parameters": {"max_count": 5}}
    assert kinds(first("Sure.\n" + qwen)) == ["xml_function"]


def test_xml_keeps_edit_whitespace() -> None:
    text = "<function=edit_file><parameter=search>\n    x = 1\n</parameter></function>"
    assert xml_calls(text)[0].data["parameters"]["search"] == "    x = 1"


def test_xml_unclosed_is_incomplete() -> None:
    calls = xml_calls("<function=search><parameter=query>fo")
    assert [c.complete for c in calls] == [False]
    c = first("<function=search><parameter=query>fo", truncated=True)
    assert not c.steps[0].complete


@pytest.mark.parametrize(
    ("text", "data"),
    [
        (
            'search(query="foo", search_type="regex")',
            {"tool": "search", "parameters": {"query": "foo", "search_type": "regex"}},
        ),
        ("functions.grep('TODO')", {"tool": "functions.grep", "parameters": {"query": "TODO"}}),
        (
            'edit_file("a.py", "old", "new")',
            {"tool": "edit_file", "parameters": {"path": "a.py", "search": "old", "replace": "new"}},
        ),
        ("run_tests()", {"tool": "run_tests", "parameters": {}}),
        ('file(**{"action": "list", "path": "."})', {"tool": "file", "parameters": {"action": "list", "path": "."}}),
    ],
)
def test_python_calls(text: str, data: dict[str, Any]) -> None:
    assert [c.data for c in python_calls(f"I'll call {text} next.")] == [data]


@pytest.mark.parametrize(
    "text",
    [
        "I will search (carefully) for it",
        "search(query=os.environ['X'])",  # not a literal: never evaluated
        "search()",
        "run(",
        "print('hello')",
        "__import__('os').system('rm -rf /')",
        "search(" + "(" * 500 + ")" * 500 + ")",
    ],
)
def test_python_calls_ignore_non_calls(text: str) -> None:
    assert python_calls(text) == []


def test_json_in_prose() -> None:
    c = first(f"Okay! Here is what I'd do: {json.dumps(STEP)} Hope this helps.")
    assert kinds(c) == ["extracted_from_prose"]
    assert [s.data for s in c.steps] == [STEP]


def test_pure_json_records_nothing() -> None:
    c = first(json.dumps({"execution_steps": [STEP]}))
    assert c.found == ()


def test_broken_json_records_repair() -> None:
    c = first("{'execution_steps': [{'step': 1, 'tool': 'search', 'parameters': {'query': 'x',},},],}")
    assert kinds(c) == ["json_repaired"]
    assert c.steps[0].data["parameters"] == {"query": "x"}


def test_truncated_list_keeps_only_closed_steps() -> None:
    s2 = {"step": 2, "tool": "file", "parameters": {"action": "read", "path": "b.py"}, "dependencies": [1]}
    text = '{"execution_steps": [' + json.dumps(STEP) + ", " + json.dumps(s2) + ', {"step": 3, "tool": "file", "param'
    c = first(text, truncated=True)
    assert [s.complete for s in c.steps] == [True, True, False]


def test_truncated_string_value_is_incomplete() -> None:
    text = '{"execution_steps": [' + json.dumps(STEP) + ', {"step": 2, "tool": "search", "parameters": {"query": "par'
    c = first(text, truncated=True)
    assert [s.complete for s in c.steps] == [True, False]


def test_unterminated_json_without_truncation_is_repaired_and_used() -> None:
    text = '{"execution_steps": [' + json.dumps(STEP)
    c = first(text, truncated=False)
    assert [s.complete for s in c.steps] == [True]
    assert "json_repaired" in kinds(c)


def test_truncated_unclosed_fence() -> None:
    text = "```json\n[" + json.dumps(STEP) + ', {"step": 2, "tool": "se'
    c = first(text, truncated=True)
    assert kinds(c)[0] == "fenced_block"
    assert [s.complete for s in c.steps] == [True, False]


@pytest.mark.parametrize("text", ["", "   \n", "Hello! How can I help?", "\x00\x01\x02", "{}", "[]", "null", "42"])
def test_nothing_to_find(text: str) -> None:
    assert list(from_text(text, truncated=False)) == []

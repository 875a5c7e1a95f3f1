"""The planning prompt and its JSON schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from equitr.interpret.prompt import PLAN_JSON_SCHEMA, RESPONSE_FORMAT, plan_messages, reask_messages
from equitr.models.types import Message


def _step(n: int, tool: str, params: dict[str, object], deps: list[int] | None = None) -> dict[str, object]:
    return {"step": n, "tool": tool, "parameters": params, "dependencies": deps or []}


VALID = {
    "execution_steps": [
        _step(1, "search", {"query": "parse", "search_type": "symbol"}),
        _step(2, "file", {"action": "read", "path": "a.py"}, [1]),
        _step(3, "git", {"action": "log", "max_count": 5}),
        _step(4, "run", {}, [2]),
    ]
}


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(PLAN_JSON_SCHEMA)
    assert "$ref" not in json.dumps(PLAN_JSON_SCHEMA)  # grammar converters choke on refs


def test_schema_accepts_a_good_plan() -> None:
    jsonschema.validate(VALID, PLAN_JSON_SCHEMA)


@pytest.mark.parametrize(
    "bad",
    [
        {"execution_steps": []},
        {"execution_steps": [_step(1, "grep", {"query": "x"})]},
        {"execution_steps": [_step(1, "search", {"pattern": "x"})]},
        {"execution_steps": [_step(1, "file", {"action": "ls", "path": "."})]},
        # parameters of one tool under another tool's name
        {"execution_steps": [_step(1, "git", {"query": "x"})]},
        {"execution_steps": [_step(0, "run", {})]},
        {"steps": []},
    ],
)
def test_schema_rejects_bad_plans(bad: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, PLAN_JSON_SCHEMA)


def test_response_format_wraps_the_schema() -> None:
    assert RESPONSE_FORMAT["type"] == "json_schema"
    assert RESPONSE_FORMAT["json_schema"]["schema"] is PLAN_JSON_SCHEMA


def test_plan_messages_names_every_tool_and_is_short() -> None:
    messages = plan_messages("  fix the login bug  ")
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[1].content == "fix the login bug"
    system = messages[0].content
    for word in ("search", "file", "git", "run", "execution_steps", "search_type", "file_pattern"):
        assert word in system
    assert len(system) < 1600  # small contexts: the prompt must stay small
    assert "Repository files" not in system


def test_plan_messages_appends_repo_map() -> None:
    system = plan_messages("x", repo_map="src/a.py\nsrc/b.py\n")[0].content
    assert system.endswith("Repository files:\nsrc/a.py\nsrc/b.py")


def test_reask_messages_echoes_reply_and_error() -> None:
    previous = plan_messages("find foo")
    out = reask_messages(previous, "{broken", "step 1: unknown tool 'grep'")
    assert out[:2] == previous
    assert out[2] == Message("assistant", "{broken")
    assert out[3].role == "user" and "unknown tool 'grep'" in out[3].content
    assert previous == plan_messages("find foo")  # input list not mutated


def test_reask_messages_caps_long_replies() -> None:
    out = reask_messages([], "x" * 50_000, "too long")
    assert len(out[0].content) < 2100

"""The keyword fallback planner, request analysis, and the relevance check."""

from __future__ import annotations

from typing import Any

import pytest

from equitr.interpret import fallback_plan
from equitr.interpret.relevance import check
from equitr.interpret.request import facts
from equitr.tools.file import FileParams
from equitr.tools.registry import SPECS, Step
from equitr.tools.search import SearchParams


def plan(request: str) -> list[tuple[str, dict[str, Any]]]:
    return [(s.tool, s.parameters.model_dump(exclude_defaults=True)) for s in fallback_plan(request)]


def test_identifiers_paths_and_tests() -> None:
    assert plan("Fix the bug in src/utils/parse.py where parse_url() fails; run the tests") == [
        ("search", {"query": "parse_url", "search_type": "symbol"}),
        ("file", {"action": "read", "path": "src/utils/parse.py"}),
        ("run", {}),
    ]


def test_quoted_strings_are_text_searches() -> None:
    assert plan('The error "connection reset by peer" appears') == [("search", {"query": "connection reset by peer"})]
    assert plan("grep for `MAX_RETRIES` and 'timeout value'") == [
        ("search", {"query": "MAX_RETRIES"}),
        ("search", {"query": "timeout value"}),
    ]


def test_camel_case_and_definition_words_are_symbols() -> None:
    assert plan("RetryPolicy ignores the limit") == [("search", {"query": "RetryPolicy", "search_type": "symbol"})]
    assert plan("the function load_config crashes") == [("search", {"query": "load_config", "search_type": "symbol"})]
    assert plan("load_config crashes") == [("search", {"query": "load_config"})]
    assert plan("os.path.join is slow") == [("search", {"query": "os.path.join"})]


def test_history_words_add_git_log() -> None:
    assert plan("who changed bot/errors/retry.py recently?") == [
        ("file", {"action": "read", "path": "bot/errors/retry.py"}),
        ("git", {"action": "log", "path": "bot/errors/retry.py"}),
    ]
    assert ("git", {"action": "log"}) in plan("show the commit history")
    assert ("git", {"action": "diff"}) in plan("review my uncommitted changes")


def test_test_target_from_request() -> None:
    assert ("run", {"target": "tests/unit/test_plan.py"}) in plan("pytest tests/unit/test_plan.py is failing")


def test_plain_words_when_nothing_else() -> None:
    assert plan("make the login page faster") == [("search", {"query": "faster"}), ("search", {"query": "login"})]


@pytest.mark.parametrize("request_text", ["", "   ", "hi", "please help", "???", "\x00\ufffd", "日本語のテキスト"])
def test_always_at_least_one_step(request_text: str) -> None:
    steps = fallback_plan(request_text)
    assert len(steps) >= 1
    assert steps[0].parameters == FileParams(action="list", path=".")


def test_urls_and_emails_are_not_paths() -> None:
    f = facts("see https://example.com/a/b.py or mail bob@example.org about README.md")
    assert f.paths == ("README.md",)
    assert f.texts == ()


def test_overlong_quote_does_not_break_the_plan() -> None:
    steps = fallback_plan('"' + "x" * 190 + '" and also a.py')
    assert [s.tool for s in steps] == ["search", "file"]


def test_fallback_steps_validate_and_are_numbered() -> None:
    steps = fallback_plan("fix `a` `b` `c` `d` in a.py b.py c.py d.py, dirs src/ lib/, run tests, git log, diff")
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert len(steps) <= 10
    for s in steps:
        SPECS[s.tool].params.model_validate(s.parameters.model_dump())


# --- relevance ------------------------------------------------------------------------------------------


def search(n: int, query: str) -> Step:
    return Step(step=n, tool="search", parameters=SearchParams(query=query))


def read(n: int, path: str, *deps: int) -> Step:
    return Step(step=n, tool="file", parameters=FileParams(action="read", path=path), dependencies=deps)


def edit(n: int, path: str) -> Step:
    return Step(step=n, tool="file", parameters=FileParams(action="edit", path=path, search="a", replace="b"))


def test_relevant_plan_is_kept() -> None:
    r = check([search(1, "parse_url")], "fix parse_url")
    assert (r.steps, r.notes, r.errors, r.replaced) == ([search(1, "parse_url")], [], [], False)


def test_history_request_gets_git_log() -> None:
    r = check([search(1, "retry")], "when was the retry limit changed and who changed it?")
    assert [s.tool for s in r.steps] == ["search", "git"]
    assert r.steps[1].step == 2
    assert r.notes[0] == ("plan_completed", "added step 2: git(action='log') (the request asks for it)")


def test_named_file_gets_read() -> None:
    r = check([search(1, "timeout")], "the timeout in bot/config.py is wrong")
    assert r.steps[1] == read(2, "bot/config.py")
    # a step touching the file (by a shorter path) counts
    assert len(check([read(1, "config.py")], "the timeout in bot/config.py is wrong").steps) == 1


def test_run_request_gets_run_after_edits() -> None:
    r = check([edit(1, "a.py"), edit(2, "b.py")], "fix a.py and b.py then run the tests")
    assert r.steps[-1].tool == "run"
    assert r.steps[-1].dependencies == (1, 2)


def test_plan_ignoring_the_request_is_replaced() -> None:
    r = check([search(1, "database"), read(2, "db.py")], "fix parse_url in utils.py")
    assert r.replaced
    assert [k for k, _ in r.notes] == ["plan_replaced"]
    assert "parse_url" in r.errors[0]
    assert r.steps == list(fallback_plan("fix parse_url in utils.py"))


def test_echo_of_the_prompt_example_is_replaced() -> None:
    echo = [
        Step(step=1, tool="search", parameters=SearchParams(query="parse_config", search_type="symbol")),
        read(2, "src/config.py", 1),
    ]
    assert check(echo, "rename HttpClient to Client").replaced
    assert not check(echo, "parse_config breaks on empty files").replaced


def test_vague_request_never_replaces() -> None:
    assert not check([search(1, "anything")], "please improve things").replaced

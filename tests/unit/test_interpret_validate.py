"""One raw step to canonical parameters: tool aliases, parameter aliases, coercion, enums, errors."""

from __future__ import annotations

from typing import Any

import pytest

from equitr.interpret.aliases import normalise_key, resolve_enum, resolve_tool
from equitr.interpret.candidates import RawStep
from equitr.interpret.validate import MAX_STEPS, Checked, check_plan, check_step
from equitr.tools.registry import SPECS


def ok(raw: Any) -> Checked:
    c = check_step(raw, 1)
    assert c.errors == [], c.errors
    assert c.params is not None
    return c


def params(raw: Any) -> dict[str, Any]:
    return ok(raw).params.model_dump(exclude_defaults=True)  # type: ignore[union-attr]


def kinds(c: Checked) -> list[str]:
    return [k for k, _ in c.notes]


@pytest.mark.parametrize(
    ("key", "norm"),
    [
        ("searchType", "search_type"),
        ("file-path", "file_path"),
        ("SEARCH_TYPE", "search_type"),
        (" q ", "q"),
        ("startLine", "start_line"),
        ("filePath", "file_path"),
        ("max results", "max_results"),
    ],
)
def test_normalise_key(key: str, norm: str) -> None:
    assert normalise_key(key) == norm


@pytest.mark.parametrize(
    ("name", "tool", "implied", "how"),
    [
        ("search", "search", {}, "exact"),
        ("Search", "search", {}, "exact"),
        ("functions.file", "file", {}, "exact"),
        ("grep", "search", {}, "alias"),
        ("rg", "search", {}, "alias"),
        ("find", "search", {}, "alias"),
        ("search_code", "search", {}, "alias"),
        ("find_files", "search", {"search_type": "filename"}, "alias"),
        ("read_file", "file", {"action": "read"}, "alias"),
        ("readFile", "file", {"action": "read"}, "alias"),
        ("write_file", "file", {"action": "write"}, "alias"),
        ("edit_file", "file", {"action": "edit"}, "alias"),
        ("list_files", "file", {"action": "list"}, "alias"),
        ("ls", "file", {"action": "list"}, "alias"),
        ("cat", "file", {"action": "read"}, "alias"),
        ("git_log", "git", {"action": "log"}, "alias"),
        ("git-diff", "git", {"action": "diff"}, "alias"),
        ("test", "run", {}, "alias"),
        ("pytest", "run", {}, "alias"),
        ("run_tests", "run", {}, "alias"),
        ("shell", "run", {}, "alias"),
        ("bash", "run", {}, "alias"),
        ("search_tool", "search", {}, "alias"),
        ("serach", "search", {}, "fuzzy"),
        ("raed_file", "file", {"action": "read"}, "fuzzy"),
    ],
)
def test_resolve_tool(name: str, tool: str, implied: dict[str, str], how: str) -> None:
    match = resolve_tool(name)
    assert match is not None
    assert (match.tool, match.implied, match.how) == (tool, implied, how)


@pytest.mark.parametrize("name", ["frobnicate", "", "x", "delete_repo", "browser", "send_email"])
def test_unknown_tools(name: str) -> None:
    assert resolve_tool(name) is None


@pytest.mark.parametrize(
    ("enum", "value", "canon", "how"),
    [
        (("file", "action"), "list_structure", "list", "alias"),
        (("file", "action"), "ls", "list", "alias"),
        (("file", "action"), "tree", "list", "alias"),
        (("file", "action"), "READ", "read", "alias"),
        (("file", "action"), "raed", "read", "fuzzy"),
        (("search", "search_type"), "grep", "text", "alias"),
        (("search", "search_type"), "literal", "text", "alias"),
        (("search", "search_type"), "regexp", "regex", "alias"),
        (("search", "search_type"), "re", "regex", "alias"),
        (("search", "search_type"), "function", "symbol", "alias"),
        (("search", "search_type"), "class", "symbol", "alias"),
        (("search", "search_type"), "def", "symbol", "alias"),
        (("search", "search_type"), "filename", "filename", "exact"),
        (("search", "search_type"), "glob", "filename", "alias"),
        (("git", "action"), "history", "log", "alias"),
        (("git", "action"), "dif", "diff", "fuzzy"),
    ],
)
def test_resolve_enum(enum: tuple[str, str], value: str, canon: str, how: str) -> None:
    assert resolve_enum(*enum, value) == (canon, how)


@pytest.mark.parametrize(
    ("enum", "value"),
    [(("file", "action"), "delete"), (("search", "search_type"), "semantic"), (("git", "action"), "push")],
)
def test_unresolvable_enums(enum: tuple[str, str], value: str) -> None:
    assert resolve_enum(*enum, value) is None


# --- parameter aliases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["pattern", "search_term", "q", "term", "text", "keyword", "searchTerm", "Pattern"])
def test_query_aliases(alias: str) -> None:
    c = ok({"tool": "search", "parameters": {alias: "foo"}})
    assert c.params.model_dump(exclude_defaults=True) == {"query": "foo"}  # type: ignore[union-attr]
    assert ("param_alias", f"step 1 (search): {alias!r} → 'query'") in c.notes


@pytest.mark.parametrize("alias", ["command", "operation", "op", "mode"])
def test_action_aliases(alias: str) -> None:
    assert params({"tool": "file", "parameters": {alias: "read", "path": "a.py"}}) == {"action": "read", "path": "a.py"}


@pytest.mark.parametrize(
    "alias", ["filename", "file_path", "file", "filepath", "path_name", "dir", "directory", "filePath"]
)
def test_path_aliases(alias: str) -> None:
    assert params({"tool": "file", "parameters": {"action": "read", alias: "a.py"}})["path"] == "a.py"


@pytest.mark.parametrize("alias", ["type", "searchType", "kind", "search-type"])
def test_search_type_aliases(alias: str) -> None:
    assert params({"tool": "search", "parameters": {"query": "x", alias: "regex"}})["search_type"] == "regex"


@pytest.mark.parametrize("alias", ["glob", "include", "files"])
def test_file_pattern_aliases(alias: str) -> None:
    assert params({"tool": "search", "parameters": {"query": "x", alias: "*.py"}})["file_pattern"] == "*.py"


def test_edit_aliases() -> None:
    got = params({"tool": "file", "parameters": {"op": "edit", "file": "a.py", "old_text": " a\n", "new_text": " b\n"}})
    assert got == {"action": "edit", "path": "a.py", "search": " a\n", "replace": " b\n"}
    got = params({"tool": "file", "parameters": {"action": "edit", "path": "a.py", "find": "x", "new": "y"}})
    assert (got["search"], got["replace"]) == ("x", "y")


@pytest.mark.parametrize("alias", ["text", "body", "data"])
def test_content_aliases_for_file(alias: str) -> None:
    got = params({"tool": "file", "parameters": {"action": "write", "path": "a.txt", alias: "  hi\n"}})
    assert got["content"] == "  hi\n"  # whitespace of written text is kept


@pytest.mark.parametrize("alias", ["msg", "commit_message"])
def test_message_aliases(alias: str) -> None:
    assert params({"tool": "git", "parameters": {"action": "commit", alias: "fix"}})["message"] == "fix"


@pytest.mark.parametrize(
    ("start", "end"), [("start", "end"), ("from_line", "to_line"), ("line_start", "line_end"), ("startLine", "endLine")]
)
def test_line_aliases(start: str, end: str) -> None:
    got = params({"tool": "file", "parameters": {"action": "read", "path": "a.py", start: "3", end: 9.0}})
    assert (got["start_line"], got["end_line"]) == (3, 9)


def test_line_range_string() -> None:
    got = params({"tool": "file", "parameters": {"action": "read", "path": "a.py", "lines": "10-20"}})
    assert (got["start_line"], got["end_line"]) == (10, 20)


def test_exact_name_wins_over_alias() -> None:
    c = ok({"tool": "search", "parameters": {"pattern": "alias", "query": "exact"}})
    assert c.params.query == "exact"  # type: ignore[union-attr]
    assert "param_dropped" in kinds(c)


def test_unknown_parameters_are_dropped_and_recorded() -> None:
    c = ok({"tool": "search", "parameters": {"query": "x", "case_sensitive": True, "color": "red"}})
    dropped = [d for k, d in c.notes if k == "param_dropped"]
    assert len(dropped) == 2 and "case_sensitive" in dropped[0] and "valid:" in dropped[0]


def test_search_scope_becomes_file_pattern() -> None:
    assert params({"tool": "search", "parameters": {"query": "x", "path": "src/"}})["file_pattern"] == "src/**"
    assert params({"tool": "search", "parameters": {"query": "x", "directory": "./lib"}})["file_pattern"] == "lib/**"
    assert params({"tool": "search", "parameters": {"query": "x", "path": "a.py"}})["file_pattern"] == "a.py"
    assert "file_pattern" not in params({"tool": "search", "parameters": {"query": "x", "path": "."}})


def test_regex_key_sets_search_type() -> None:
    assert params({"tool": "search", "parameters": {"regex": "fo+"}}) == {"query": "fo+", "search_type": "regex"}
    assert params({"tool": "grep", "parameters": {"symbol": "Foo"}}) == {"query": "Foo", "search_type": "symbol"}


def test_run_command_becomes_target() -> None:
    assert params({"tool": "run", "parameters": {"command": "pytest tests/test_a.py -q"}}) == {
        "target": "tests/test_a.py"
    }
    c = ok({"tool": "bash", "parameters": {"command": "npm test"}})
    assert c.params.target is None  # type: ignore[union-attr]
    assert "param_dropped" in kinds(c)


# --- enum correction ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["filename", "file", "name", "path", "glob"])
def test_filename_search_generates_file_pattern(value: str) -> None:
    c = ok({"tool": "search", "parameters": {"query": "config", "search_type": value}})
    assert c.params.model_dump(exclude_defaults=True) == {  # type: ignore[union-attr]
        "query": "config",
        "search_type": "filename",
        "file_pattern": "*config*",
    }
    assert "enum_corrected" in kinds(c)


def test_filename_search_keeps_a_glob_query() -> None:
    assert (
        params({"tool": "search", "parameters": {"query": "*.toml", "search_type": "filename"}})["file_pattern"]
        == "*.toml"
    )


def test_invalid_enum_names_the_choices() -> None:
    c = check_step({"tool": "file", "parameters": {"action": "delete", "path": "a.py"}}, 4)
    assert c.params is None
    assert c.errors == ["step 4 (file): action 'delete' is not valid; use one of: read, list, write, edit"]


def test_invalid_search_type() -> None:
    c = check_step({"tool": "search", "parameters": {"query": "x", "search_type": "semantic"}}, 1)
    assert c.errors and "text, regex, filename, symbol" in c.errors[0]


def test_missing_file_action_is_inferred() -> None:
    assert params({"tool": "file", "parameters": {"path": "a.py"}})["action"] == "read"
    assert params({"tool": "file", "parameters": {"path": "src/"}})["action"] == "list"
    assert params({"tool": "file", "parameters": {"path": "a.py", "content": "x"}})["action"] == "write"
    assert params({"tool": "file", "parameters": {"path": "a.py", "old": "x", "new": "y"}})["action"] == "edit"
    assert params({"tool": "git", "parameters": {"message": "m"}})["action"] == "commit"


# --- coercion -------------------------------------------------------------------------------------------


def test_numbers_from_strings_and_clamping() -> None:
    c = ok({"tool": "search", "parameters": {"query": 42, "max_results": "1000"}})
    assert c.params.query == "42" and c.params.max_results == 500  # type: ignore[union-attr]
    assert kinds(c).count("value_coerced") == 2
    assert params({"tool": "file", "parameters": {"action": "read", "path": "a", "start_line": 0}})["start_line"] == 1


def test_non_number_is_a_clear_error() -> None:
    c = check_step({"tool": "git", "parameters": {"action": "log", "max_count": "many"}}, 2)
    assert c.errors == ["step 2 (git): parameter 'max_count' must be a whole number, got 'many'"]


def test_list_and_dict_values() -> None:
    assert params({"tool": "file", "parameters": {"action": "read", "path": ["a.py"]}})["path"] == "a.py"
    got = params({"tool": "file", "parameters": {"action": "write", "path": "a.json", "content": {"k": 1}}})
    assert got["content"] == '{\n  "k": 1\n}'
    assert check_step({"tool": "search", "parameters": {"query": {"nested": True}}}, 1).errors


def test_empty_optional_values_mean_not_given() -> None:
    assert params({"tool": "search", "parameters": {"query": "x", "file_pattern": "", "search_type": None}}) == {
        "query": "x"
    }


def test_empty_query_is_an_error() -> None:
    c = check_step({"tool": "search", "parameters": {"query": "   "}}, 1)
    assert c.params is None and "query" in c.errors[0]


# --- step shapes ----------------------------------------------------------------------------------------


def test_openai_function_wrapper_with_string_arguments() -> None:
    c = ok({"id": "call_1", "type": "function", "function": {"name": "grep", "arguments": '{"pattern": "TODO"}'}})
    assert (c.tool, c.params.query) == ("search", "TODO")  # type: ignore[union-attr]


def test_broken_arguments_string_is_repaired() -> None:
    c = ok({"name": "search", "arguments": "{'query': 'x',}"})
    assert c.params.query == "x"  # type: ignore[union-attr]
    assert "json_repaired" in kinds(c)


def test_langchain_action_input() -> None:
    c = ok({"action": "read_file", "action_input": {"path": "a.py"}})
    assert (c.tool, c.params.action) == ("file", "read")  # type: ignore[union-attr]


def test_flat_step_without_parameters_key() -> None:
    c = ok({"step": 2, "tool": "file", "action": "read", "path": "a.py", "dependencies": [1]})
    assert (c.number, c.deps, c.params.path) == (2, [1], "a.py")  # type: ignore[union-attr]


def test_parameters_beside_parameters_are_moved_in() -> None:
    c = ok({"tool": "file", "action": "list", "parameters": {"path": "src"}, "status": "pending"})
    assert c.params.action == "list"  # type: ignore[union-attr]
    assert ("param_dropped", "step 1: ignored step field 'status'") in c.notes


def test_tool_inferred_from_parameters() -> None:
    assert ok({"parameters": {"query": "x"}}).tool == "search"
    assert ok({"action": "log"}).tool == "git"
    c = ok({"action": "read", "path": "a.py"})
    assert c.tool == "file" and "tool_alias" in kinds(c)


def test_step_numbers_and_dependencies_coerced() -> None:
    c = ok({"step": "step_3", "tool": "run", "parameters": {}, "depends_on": ["step 1", 2, {"step": "2"}]})
    assert (c.number, c.deps) == (3, [1, 2])
    assert ok({"id": 4.0, "tool": "run", "deps": "1, 2"}).deps == [1, 2]
    assert ok({"tool": "run", "dependencies": None}).deps == []
    c = ok({"tool": "run", "dependencies": ["first"]})
    assert c.deps == [] and "dependency_repaired" in kinds(c)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("search for foo", "step 1: expected an object"),
        (None, "step 1: expected an object"),
        (
            {"tool": "frobnicate", "parameters": {}},
            "step 1: unknown tool 'frobnicate'; use one of: search, file, git, run",
        ),
        ({"description": "look around"}, 'step 1: no tool named; add "tool": one of search, file, git, run'),
        ({"tool": "search", "parameters": "not json"}, "step 1: parameters 'not json' are not a JSON object"),
        ({"tool": "search", "parameters": [1, 2]}, "step 1: parameters must be an object, got list"),
        ({"tool": "file", "parameters": {"action": "read", "path": "x" * 2000}}, "step 1 (file): parameter 'path'"),
    ],
)
def test_step_errors(raw: Any, error: str) -> None:
    c = check_step(raw, 1)
    assert c.params is None
    assert c.errors and c.errors[0].startswith(error)


def test_description_kept() -> None:
    assert ok({"tool": "run", "reason": "  check the fix  "}).description == "check the fix"


# --- plans ----------------------------------------------------------------------------------------------


def test_check_plan_drops_invalid_steps_and_records() -> None:
    plan = check_plan([RawStep({"tool": "search", "parameters": {"q": "a"}}), RawStep({"tool": "nope"})])
    assert [s.tool for s in plan.steps] == ["search"]
    assert plan.steps[0].step == 1
    assert any(k == "step_dropped" for k, _ in plan.notes)
    assert plan.errors == ["step 2: unknown tool 'nope'; use one of: search, file, git, run"]


def test_check_plan_truncated_steps() -> None:
    plan = check_plan(
        [RawStep({"tool": "run"}), RawStep({"tool": "search", "parameters": {"query": "fo"}}, complete=False)]
    )
    assert len(plan.steps) == 1
    assert ("truncated_dropped", "step 2: cut off by the token limit; not used") in plan.notes
    assert "cut off" in plan.errors[0]


def test_check_plan_zero_based_numbers_are_shifted() -> None:
    plan = check_plan([RawStep({"step": 0, "tool": "run"}), RawStep({"step": 1, "tool": "run", "dependencies": [0]})])
    assert [(s.step, s.dependencies) for s in plan.steps] == [(1, ()), (2, (1,))]


def test_check_plan_caps_the_number_of_steps() -> None:
    plan = check_plan([RawStep({"tool": "run"})] * (MAX_STEPS + 10))
    assert len(plan.steps) == MAX_STEPS
    assert any(k == "step_dropped" for k, _ in plan.notes)


def test_every_valid_step_revalidates() -> None:
    raw = {
        "grep": {"query": "q"},
        "ls": {"action": "list", "path": "."},
        "git_status": {},
        "pytest": {"path": "."},
    }
    plan = check_plan([RawStep({"tool": t, "parameters": p}) for t, p in raw.items()])
    # Every step survives (before, `action: list` on git_status dropped one and nothing noticed), so the loop
    # below checks all four tools.
    assert plan.errors == []
    assert [s.tool for s in plan.steps] == ["search", "file", "git", "run"]
    for s in plan.steps:
        SPECS[s.tool].params.model_validate(s.parameters.model_dump())

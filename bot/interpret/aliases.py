"""Names small models use instead of ours: tool names, parameter names and enum values.

Everything is looked up by a normalised key (lower snake case), so `searchType`, `search-type` and
`SEARCH_TYPE` are one name. Close misspellings of tool names and enum values are matched with rapidfuzz.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import get_args

from rapidfuzz import fuzz, process

from equitr.tools.schema import TOOL_NAMES, FileAction, GitAction, SearchType, ToolName

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_key(key: str) -> str:
    return _NON_WORD.sub("_", _CAMEL.sub("_", key.strip()).lower()).strip("_")


# --- tools ----------------------------------------------------------------------------------------------

_TOOLS: dict[str, tuple[ToolName, dict[str, str]]] = {}


def _tools(tool: ToolName, names: str, **implied: str) -> None:
    for name in names.split():
        _TOOLS[name] = (tool, implied)


_tools("search", "search grep rg ripgrep ag ack find search_code code_search search_files search_text")
_tools("search", "find_in_files search_repo search_codebase search_repository text_search lookup")
_tools("search", "find_file find_files locate glob file_search search_filename", search_type="filename")
_tools("search", "find_symbol find_definition goto_definition symbol_search search_symbol", search_type="symbol")
_tools("search", "regex_search search_regex", search_type="regex")
_tools("file", "file files file_tool filesystem fs editor str_replace_editor")
_tools("file", "read_file read cat view view_file open_file open show_file get_file head", action="read")
_tools("file", "write_file write create_file save_file new_file", action="write")
_tools("file", "edit_file edit modify_file update_file replace_in_file str_replace apply_edit", action="edit")
_tools("file", "patch_file patch search_replace", action="edit")
_tools("file", "list_files list_dir list_directory ls tree dir list list_structure", action="list")
_tools("git", "git git_tool")
_tools("git", "git_log log history git_history git_blame blame git_show", action="log")
_tools("git", "git_diff diff", action="diff")
_tools("git", "git_status status", action="status")
_tools("git", "git_commit commit", action="commit")
_tools("run", "run test tests pytest run_tests run_test shell bash sh exec execute run_command command")
_tools("run", "terminal make tox nox npm_test unittest run_shell")


@dataclass(frozen=True, slots=True)
class ToolMatch:
    tool: ToolName
    implied: dict[str, str] = field(default_factory=dict)
    how: str = "exact"  # exact | alias | fuzzy


def resolve_tool(name: str, *, fuzzy: bool = True) -> ToolMatch | None:
    raw = name.strip()
    # `functions.search` and `Search` are the tool's own name; `search_tool` is an alias of it.
    key = normalise_key(raw.rsplit(".", 1)[-1] if "." in raw else raw)
    if key in TOOL_NAMES:
        return ToolMatch(_TOOLS[key][0])
    if key not in _TOOLS:
        key = re.sub(r"^tool_|_tool$", "", key)
    if not key:
        return None
    if key in _TOOLS:
        tool, implied = _TOOLS[key]
        return ToolMatch(tool, dict(implied), "alias")
    if fuzzy and len(key) >= 4:
        best = process.extractOne(key, list(_TOOLS), scorer=fuzz.ratio, score_cutoff=80)
        if best is not None:
            tool, implied = _TOOLS[best[0]]
            return ToolMatch(tool, dict(implied), "fuzzy")
    return None


# --- parameters -----------------------------------------------------------------------------------------

_STEP_KEYS = {
    "step": "step id step_number step_id number index order num step_no",
    "dependencies": "dependencies depends_on depends deps dependency after requires needs prerequisites "
    "wait_for waits_for depend_on",
    "description": "description reason why purpose thought explanation goal rationale summary title task comment note "
    "instruction instructions details change_description what_to_change desc",
    "tool": "tool tool_name name function function_name recipient_name tool_type",
    "parameters": "parameters params arguments args action_input input tool_input kwargs inputs parameter "
    "argument tool_args tool_arguments",
}
STEP_KEYS: dict[str, str] = {a: canon for canon, names in _STEP_KEYS.items() for a in names.split()}

_LINES = {
    "start_line": "start start_line from_line line_start start_line_number from begin first_line line "
    "lineno line_number start_lineno offset",
    "end_line": "end end_line to_line line_end end_line_number to stop last_line until end_lineno",
}

_PARAMS: dict[str, dict[str, str]] = {
    "search": {
        "query": "query pattern search_term q term text keyword keywords search search_query string "
        "search_string query_string regex regexp symbol expression needle search_pattern",
        "search_type": "search_type type searchtype kind mode search_mode match_type query_type method",
        "file_pattern": "file_pattern glob include files file_glob file_filter filter file_types includes "
        "path_pattern file_type extension",
        "max_results": "max_results limit max count max_count n top_k num_results results max_matches",
        # A search scope; it becomes a glob in file_pattern (see validate).
        "path": "path dir directory folder file filename file_path filepath path_name scope in",
    },
    "file": {
        "action": "action command operation op mode action_type cmd method",
        "path": "path filename file_path file filepath path_name dir directory file_name folder target name location",
        **_LINES,
        "content": "content text body data contents new_content file_content code file_text",
        "search": "search old old_text find old_string search_text original before old_str from_text",
        "replace": "replace new new_text new_string replacement replace_text after new_str with to_text",
        "lines": "lines line_range range",
    },
    "git": {
        "action": "action command operation op mode subcommand cmd git_command",
        "path": "path filename file_path file filepath path_name dir directory file_name paths files",
        "message": "message msg commit_message commit_msg",
        "max_count": "max_count n limit count max num number max_results last",
    },
    "run": {
        "target": "target path test tests test_path file files target_path paths test_file module test_name selector",
        "command": "command cmd script shell args arguments",
    },
}
PARAM_ALIASES: dict[str, dict[str, str]] = {
    tool: {alias: canon for canon, names in table.items() for alias in names.split()} for tool, table in _PARAMS.items()
}

# Positional arguments of python-call syntax, by tool and implied action.
POSITIONAL: dict[tuple[str, str], tuple[str, ...]] = {
    ("search", ""): ("query", "search_type", "file_pattern"),
    ("file", ""): ("action", "path"),
    ("file", "read"): ("path", "start_line", "end_line"),
    ("file", "list"): ("path",),
    ("file", "write"): ("path", "content"),
    ("file", "edit"): ("path", "search", "replace"),
    ("git", ""): ("action", "path"),
    ("run", ""): ("target",),
}


def positional_names(tool: str, implied: dict[str, str]) -> tuple[str, ...]:
    names = POSITIONAL.get((tool, implied.get("action", "")))
    if names is None:
        names = ("path",) if tool == "git" else POSITIONAL.get((tool, ""), ())
    return names


# --- enum values ----------------------------------------------------------------------------------------

_ENUMS: dict[str, dict[str, str]] = {
    "search_type": {
        "text": "text grep literal string plain fixed exact word words keyword content fixed_string "
        "fulltext full_text substring contains code usage usages reference references",
        "regex": "regex regexp re pattern regular_expression rx",
        "symbol": "symbol function class definition def method identifier func ctags variable "
        "definitions symbols fn type struct",
        "filename": "filename file name path glob file_name files filepath file_path",
    },
    "file_action": {
        "read": "read cat view open show get read_file display print head load",
        "list": "list list_structure ls tree dir list_dir list_files listdir browse directory structure list_directory",
        "write": "write create save overwrite write_file new put create_file",
        "edit": "edit modify update replace patch change edit_file str_replace sed search_replace fix rewrite",
    },
    "git_action": {
        "log": "log history commits git_log blame show shortlog",
        "diff": "diff changes git_diff difference",
        "status": "status st state git_status",
        "commit": "commit save git_commit",
    },
}
ENUM_ALIASES: dict[str, dict[str, str]] = {
    enum: {alias: canon for canon, names in table.items() for alias in names.split()} for enum, table in _ENUMS.items()
}


def resolve_enum(enum: str, value: str) -> tuple[str, str] | None:
    """(canonical value, how) where how is exact | alias | fuzzy; None when nothing is close."""
    table = ENUM_ALIASES[enum]
    key = normalise_key(value)
    if key in table:
        canon = table[key]
        return canon, ("exact" if value == canon else "alias")
    if len(key) >= 3:
        best = process.extractOne(key, list(table), scorer=fuzz.ratio, score_cutoff=75)
        if best is not None:
            return table[best[0]], "fuzzy"
    return None


_CHOICES: dict[str, tuple[str, ...]] = {
    "search_type": get_args(SearchType),
    "file_action": get_args(FileAction),
    "git_action": get_args(GitAction),
}


def enum_choices(enum: str) -> tuple[str, ...]:
    """The valid values in the schema's own order, for error messages."""
    return _CHOICES[enum]

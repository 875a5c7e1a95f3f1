"""Tool calls written as XML (`<function=search><parameter=query>…`) or as Python calls (`search(q="x")`)."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from equitr.interpret.aliases import positional_names, resolve_tool
from equitr.interpret.scan import scan

_FUNCTION = re.compile(
    r"<(function|invoke)\b\s*(?:=|name\s*=)?\s*[\"']?([\w.:-]+)[\"']?\s*>"
    r"(.*?)(</\1\s*>|(?=<(?:function|invoke)\b)|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_PARAMETER = re.compile(
    r"<parameter\b\s*(?:=|name\s*=)?\s*[\"']?([\w.:-]+)[\"']?\s*>(.*?)(</parameter\s*>|(?=<parameter\b)|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_JSONISH_VALUE = re.compile(r"-?\d+|\[.*\]|\{.*\}|true|false|null", re.DOTALL)
# Bodies of calls longer than this are not tool calls (and would cost ast.parse real time).
_MAX_CALL = 20_000
# Parsing is bounded too: a plan has a handful of calls, not thousands of nested ones.
_MAX_ATTEMPTS = 64


@dataclass(frozen=True, slots=True)
class Call:
    data: dict[str, Any]
    complete: bool  # every closing tag / parenthesis was written


def _xml_value(raw: str) -> Any:
    # Tags put values on their own lines; strip exactly that, since edit text keeps its whitespace.
    value = raw[1:] if raw.startswith("\n") else raw
    value = value[:-1] if value.endswith("\n") else value
    if _JSONISH_VALUE.fullmatch(value.strip()):
        try:
            return json.loads(value.strip())
        except (ValueError, RecursionError):
            pass
    return value


def xml_calls(text: str) -> list[Call]:
    if "<" not in text:
        return []
    calls: list[Call] = []
    for fn in _FUNCTION.finditer(text):
        params: dict[str, Any] = {}
        complete = bool(fn.group(4))
        for p in _PARAMETER.finditer(fn.group(3)):
            params[p.group(1)] = _xml_value(p.group(2))
            complete = complete and bool(p.group(3))
        calls.append(Call({"tool": fn.group(2), "parameters": params}, complete))
    return calls


_CALL_NAME = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)[ \t]*\(")


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return False, None


def python_calls(text: str) -> list[Call]:
    """Calls whose name is a tool (or an alias) and whose arguments are all literals; nothing is run."""
    if "(" not in text:
        return []
    calls: list[Call] = []
    ends: dict[int, int] | None = None
    attempts = 0
    pos = 0
    while attempts < _MAX_ATTEMPTS:
        match = _CALL_NAME.search(text, pos)
        if match is None:
            break
        pos = match.end()
        tool = resolve_tool(match.group(1), fuzzy=False)
        if tool is None:
            continue
        if ends is None:  # every parenthesis pair in one pass, so many unclosed calls stay linear
            ends = {start: end for start, end, _ in scan(text, brackets="(").closed}
        end = ends.get(match.end() - 1, -1)
        if end < 0 or end - match.start() > _MAX_CALL:
            continue
        attempts += 1
        call = _parse_call(text[match.start() : end], match.group(1), positional_names(tool.tool, tool.implied))
        if call is not None:
            calls.append(Call(call, True))
            pos = end
    return calls


def _parse_call(source: str, name: str, positional: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    node = tree.body
    if not isinstance(node, ast.Call) or (not node.args and not node.keywords and "_" not in name):
        return None  # `search()` in prose is not a plan; `run_tests()` is
    params: dict[str, Any] = {}
    for i, arg in enumerate(node.args):
        ok, value = _literal(arg)
        if not ok or i >= len(positional):
            return None
        params[positional[i]] = value
    for kw in node.keywords:
        ok, value = _literal(kw.value)
        if not ok:
            return None
        if kw.arg is None:
            if not isinstance(value, dict):
                return None
            params.update({str(k): v for k, v in value.items()})
        else:
            params[kw.arg] = value
    return {"tool": name, "parameters": params}

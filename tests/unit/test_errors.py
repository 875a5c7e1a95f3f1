"""The exception tree: every class in one module, each kind documented, one "did you mean"."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Literal

import pytest

from equitr import errors
from equitr.errors import CommandError, ConfigError, EquitrError, closest
from equitr.errors.render import KINDS, error_kind
from equitr.events.commands import parse as parse_command
from equitr.interpret.aliases import resolve_tool
from equitr.models.names import parse_model_name

BOT = Path(__file__).resolve().parents[2] / "bot"


def _exception_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base) for base in node.bases]
            if any(b.endswith(("Error", "Exception", "Failure", "Exceeded", "Refused")) for b in bases):
                names.append(node.name)
    return names


def test_every_exception_class_is_defined_in_the_errors_module() -> None:
    tree = BOT / "errors" / "__init__.py"
    assert _exception_classes(tree)  # the check finds them where they are
    elsewhere = {
        str(path.relative_to(BOT)): found
        for path in BOT.rglob("*.py")
        if path != tree and (found := _exception_classes(path))
    }
    assert elsewhere == {}


def test_the_docstring_draws_every_class_of_the_tree() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, BaseException)]
    for cls in classes:
        assert cls.__name__ in (errors.__doc__ or ""), cls.__name__


def test_every_class_kind_is_a_documented_kind() -> None:
    equitr_classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, EquitrError)]
    for cls in equitr_classes:
        assert cls.kind in KINDS, cls.__name__


def test_an_unknown_kind_is_shown_as_a_failed_job_not_a_crash() -> None:
    assert error_kind(EquitrError("x", kind="no-such-anchor")).anchor == "job-failed"


def test_structured_fields_are_set_where_the_error_is_raised() -> None:
    with pytest.raises(ConfigError) as provider:
        parse_model_name("olama/qwen3:30b")
    assert (provider.value.kind, provider.value.closest[0]) == ("unknown-model", "ollama/qwen3:30b")
    with pytest.raises(CommandError) as flag:
        parse_command("/equitr fix --budgt 2")
    assert (flag.value.flag, flag.value.closest) == ("--budgt", ["--budget"])


@pytest.mark.parametrize(
    ("word", "choices", "cutoff", "scorer", "expected"),
    [
        ("fxi", ["fix", "review", "help"], 50, "wratio", ["fix"]),
        ("zzzz", ["fix", "review", "help"], 50, "wratio", []),
        ("olama", ["openai", "ollama", "anthropic"], 60, "wratio", ["ollama"]),
        # the plain ratio does not guess from a fragment the way WRatio does
        ("read", ["read_file", "search"], 80, "ratio", []),
        ("read_fle", ["read_file", "search"], 80, "ratio", ["read_file"]),
    ],
)
def test_one_did_you_mean_with_the_callers_cutoff(
    word: str, choices: list[str], cutoff: float, scorer: Literal["wratio", "ratio"], expected: list[str]
) -> None:
    assert closest(word, choices, cutoff=cutoff, scorer=scorer) == expected


def test_closest_gives_up_to_limit_names_best_first() -> None:
    names = ["gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "o3"]
    found = closest("gpt-4.1-mni", names, cutoff=60, limit=3)
    assert found[0] == "gpt-4.1-mini" and len(found) <= 3


def test_tool_aliases_keep_their_strict_cutoff() -> None:
    match = resolve_tool("read_fiel")
    assert match is not None and match.how == "fuzzy"
    assert resolve_tool("rxxx_fiel") is None

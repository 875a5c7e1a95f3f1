import pytest

from equitr.errors import CommandError
from equitr.events.commands import Command, help_markdown, is_command, parse


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/equitr fix", Command("fix")),
        ("/equitr fix please add tests\nmore text", Command("fix", "please add tests")),
        ("  /EQUITR Review", Command("review")),
        (
            "/equitr fix --budget 2.5 --model ollama/qwen3:30b make it fast",
            Command("fix", "make it fast", budget_usd=2.5, model="ollama/qwen3:30b"),
        ),
        (
            "/equitr fix --budget=$3 --worker-model openai/gpt-4.1-mini",
            Command("fix", budget_usd=3.0, worker_model="openai/gpt-4.1-mini"),
        ),
        ("/equitr ask why is this slow?", Command("ask", "why is this slow?")),
        ("/equitr", Command("help")),
        ("/equitr retry --budget 2", Command("retry", budget_usd=2.0)),
        ("/equitr status", Command("status")),
        ("/equitr cancel", Command("cancel")),
        ("/equitr cost", Command("cost")),
        ("/equitr plan", Command("plan")),
    ],
)
def test_parses(body: str, expected: Command) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize(
    "body", ["fix this /equitr fix", "hello", "", "> /equitr fix", "/equitrfix", "text\n/equitr fix"]
)
def test_not_addressed(body: str) -> None:
    assert parse(body) is None
    assert not is_command(body)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("/equitr fxi", "Did you mean `fix`?"),
        ("/equitr reveiw", "Did you mean `review`?"),
        ("/equitr fix --budgte 2", "Did you mean `--budget`?"),
        ("/equitr fix --budget", "needs a value"),
        ("/equitr fix --budget abc", "not an amount"),
        ("/equitr fix --budget -1", "more than 0"),
        ("/equitr fix --budget 5000", "at most 1000"),
        ("/equitr fix --budget nan", "more than 0"),
        ("/equitr fix --model 'rm -rf'", "not a model name"),
        ("/equitr ask", "needs a question"),
        ("/equitr status --budget 1", "does not take"),
        ("/equitr fix --budget 1 --budget 2", "given twice"),
    ],
)
def test_errors_name_the_fix(body: str, needle: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(body)
    assert needle in info.value.message
    assert info.value.hint  # every error carries usage


def test_unknown_command_hint_lists_usage() -> None:
    with pytest.raises(CommandError) as info:
        parse("/equitr deploy")
    assert "`/equitr fix" in (info.value.hint or "")


def test_help_lists_every_command() -> None:
    text = help_markdown()
    for name in ("fix", "review", "ask", "plan", "status", "cancel", "retry", "cost", "help"):
        assert f"/equitr {name}" in text

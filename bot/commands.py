"""The `/equitr` command language: a pure parser for the first line of a comment.

    /equitr <command> [--budget USD] [--model NAME] [--worker-model NAME] [free text]

Only the first line counts, so a command quoted further down a comment never triggers anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import process

from equitr.errors import CommandError

CommandName = Literal["fix", "review", "ask", "plan", "status", "cancel", "retry", "cost", "help"]

USAGE: dict[str, str] = {
    "fix": "/equitr fix [--budget USD] [--model NAME] [--worker-model NAME] [extra instructions]",
    "review": "/equitr review [--budget USD] [--model NAME] [what to focus on]",
    "ask": "/equitr ask <question>",
    "plan": "/equitr plan [--model NAME] [extra instructions]",
    "status": "/equitr status",
    "cancel": "/equitr cancel",
    "retry": "/equitr retry [--budget USD] [--model NAME] [--worker-model NAME]",
    "cost": "/equitr cost",
    "help": "/equitr help",
}
SUMMARY: dict[str, str] = {
    "fix": "plan and make the change, then open a draft pull request",
    "review": "review this pull request with inline comments",
    "ask": "answer a question about the code (read-only)",
    "plan": "show the plan and a cost estimate, change nothing",
    "status": "show the state of the latest job here",
    "cancel": "stop the running job here",
    "retry": "run the last failed job again",
    "cost": "spending on this issue and in this repository this month",
    "help": "this list",
}
FLAGS = ("--budget", "--model", "--worker-model")
MAX_BUDGET_USD = 1000.0

_PREFIX = re.compile(r"^\s*/equitr(?:\s+|$)", re.IGNORECASE)
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    text: str = ""
    budget_usd: float | None = None
    model: str | None = None
    worker_model: str | None = None


def is_command(body: str | None) -> bool:
    """Whether the comment's first line addresses equitr at all (cheap check before parsing)."""
    return bool(body) and _PREFIX.match(_first_line(body or "")) is not None


def parse(body: str) -> Command | None:
    """Parse a comment body. None when it is not addressed to equitr; CommandError when it is but is wrong."""
    line = _first_line(body)
    match = _PREFIX.match(line)
    if match is None:
        return None
    tokens = line[match.end() :].split()
    if not tokens:
        return Command(name="help")
    word = tokens[0].lower()
    if word not in USAGE:
        raise CommandError(
            f"`{tokens[0]}` is not an equitr command.{_did_you_mean(word, USAGE)}",
            hint=_usage_block(),
        )
    name: CommandName = word  # type: ignore[assignment]  # membership checked above
    flags, text = _split_flags(name, tokens[1:])
    if name == "ask" and not text:
        raise CommandError("`/equitr ask` needs a question after it.", hint=f"Usage: `{USAGE['ask']}`")
    return Command(name=name, text=text, **flags)  # type: ignore[arg-type]  # values checked by _split_flags


def _first_line(body: str) -> str:
    stripped = body.lstrip("\ufeff \t\r\n")
    return stripped.split("\n", 1)[0].strip()


def _split_flags(name: str, tokens: list[str]) -> tuple[dict[str, object], str]:
    flags: dict[str, object] = {}
    i = 0
    while i < len(tokens) and tokens[i].startswith("--"):
        flag, _, inline = tokens[i].partition("=")
        flag = flag.lower()
        if flag not in FLAGS:
            raise CommandError(
                f"`{flag}` is not a flag equitr knows.{_did_you_mean(flag, FLAGS)}",
                hint=f"Usage: `{USAGE[name]}`",
            )
        if f"--{flag.lstrip('-')}" not in USAGE[name]:
            raise CommandError(f"`/equitr {name}` does not take `{flag}`.", hint=f"Usage: `{USAGE[name]}`")
        if inline:
            value = inline
            i += 1
        elif i + 1 < len(tokens):
            value = tokens[i + 1]
            i += 2
        else:
            raise CommandError(f"`{flag}` needs a value.", hint=f"Usage: `{USAGE[name]}`")
        key = flag[2:].replace("-", "_")
        field_name = "budget_usd" if key == "budget" else key
        if field_name in flags:
            raise CommandError(f"`{flag}` is given twice.", hint=f"Usage: `{USAGE[name]}`")
        flags[field_name] = _budget(value) if key == "budget" else _model(flag, value)
    return flags, " ".join(tokens[i:])


def _budget(value: str) -> float:
    raw = value.strip().lstrip("$").rstrip("$")
    try:
        amount = float(raw)
    except ValueError:
        raise CommandError(
            f"`--budget {value}` is not an amount in US dollars.", hint="For example: `--budget 2.50`."
        ) from None
    if not (0 < amount <= MAX_BUDGET_USD) or amount != amount:
        raise CommandError(
            f"`--budget {value}` must be more than 0 and at most {MAX_BUDGET_USD:g} USD.",
            hint="For example: `--budget 2.50`.",
        )
    return amount


def _model(flag: str, value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise CommandError(
            f"`{flag} {value}` is not a model name.",
            hint="Model names look like `provider/model`, e.g. `ollama/qwen3:30b` or `openai/gpt-4.1-mini`.",
        )
    return value


def _did_you_mean(word: str, choices: object) -> str:
    best = process.extractOne(word, list(choices))  # type: ignore[call-overload]
    if best is None or best[1] < 50:
        return ""
    return f" Did you mean `{best[0]}`?"


def _usage_block() -> str:
    return "Commands:\n" + "\n".join(f"- `{USAGE[n]}` — {SUMMARY[n]}" for n in USAGE)


def help_markdown() -> str:
    """The body of the `help` reply."""
    return (
        "equitr runs coding-agent work from comments. The command must be the first line of the comment.\n\n"
        + _usage_block()
        + "\n\nFlags are bounded by the repository's `.equitr.toml`."
    )

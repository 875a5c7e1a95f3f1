"""The `/equitr` command language: a pure parser for the first line of a comment.

    /equitr <command> [--budget USD] [--model NAME] [--worker-model NAME] [free text]

Only the first line counts, so a command quoted further down a comment never triggers anything.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from equitr.errors import CommandError, closest

# A key of `COMMANDS`: `parse` only ever makes a `Command` whose name is one.
CommandName = str
TokenNeed = Literal["push", "review", "read", "comment"]  # equitr.github.scope: what the job's token may do

_FLAG_VALUE = {"--budget": "USD", "--model": "NAME", "--worker-model": "NAME"}  # what usage shows after each
FLAGS = tuple(_FLAG_VALUE)
MAX_BUDGET_USD = 1000.0


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One `/equitr` command: everything the webhook side, the worker and the help text know about it.

    `handler` is an import path (`module:function`), resolved only by the worker (`resolve`), so the web
    process never imports the agent stack. The handler is `async def (ctx: JobContext, env: WorkEnv) ->
    Outcome`."""

    name: str
    summary: str
    handler: str
    flags: tuple[str, ...] = ()
    argument: str = ""  # shown in the usage; `<…>` when it is required
    needs: str = ""  # what a missing required argument is called in the error ("a question")
    needs_write: bool = True  # only people with write, maintain or admin permission may run it
    retryable: bool = False  # `/equitr retry` can run it again
    at_dispatch: bool = False  # applied by the dispatcher when the webhook arrives, not only by a worker
    exclusive: bool = False  # changes the branch: one such job at a time per issue (equitr.jobs.runner)
    uses_model: bool = True  # False: costs nothing to run again, so a long rate-limit wait parks it in the queue
    token: TokenNeed = "comment"

    @property
    def usage(self) -> str:
        words = ["/equitr", self.name, *(f"[{f} {_FLAG_VALUE[f]}]" for f in self.flags)]
        return " ".join([*words, self.argument] if self.argument else words)


# Adding a command is one row here and one handler module (docs/github.md, "Adding a command").
COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "fix",
            "plan and make the change, then open a draft pull request",
            "equitr.handlers.fix:fix",
            flags=FLAGS,
            argument="[extra instructions]",
            retryable=True,
            exclusive=True,
            token="push",
        ),
        CommandSpec(
            "review",
            "review this pull request with inline comments",
            "equitr.handlers.review:review",
            flags=("--budget", "--model"),
            argument="[what to focus on]",
            retryable=True,
            token="review",
        ),
        CommandSpec(
            "ask",
            "answer a question about the code (read-only)",
            "equitr.handlers.answer:ask",
            argument="<question>",
            needs="a question",
            retryable=True,
            token="read",
        ),
        CommandSpec(
            "plan",
            "show the plan and a cost estimate, change nothing",
            "equitr.handlers.answer:plan",
            flags=("--model",),
            argument="[extra instructions]",
            retryable=True,
            token="read",
        ),
        CommandSpec(
            "explain",
            "explain what one file of the repository does (read-only)",
            "equitr.handlers.explain:explain",
            argument="<path>",
            needs="the path of a file",
            retryable=True,
            token="read",
        ),
        CommandSpec(
            "status", "show the state of the latest job here", "equitr.handlers.control:on_status", uses_model=False
        ),
        CommandSpec(
            "cancel",
            "stop the running job here",
            "equitr.handlers.control:on_cancel",
            at_dispatch=True,
            uses_model=False,
        ),
        CommandSpec(
            "retry", "run the last failed job again", "equitr.handlers.handlers:retry", flags=FLAGS, exclusive=True
        ),
        CommandSpec(
            "cost",
            "spending on this issue and in this repository this month",
            "equitr.handlers.control:on_cost",
            uses_model=False,
        ),
        CommandSpec("help", "this list", "equitr.handlers.control:on_help", uses_model=False),
    )
}
USAGE: dict[str, str] = {name: spec.usage for name, spec in COMMANDS.items()}
SUMMARY: dict[str, str] = {name: spec.summary for name, spec in COMMANDS.items()}
RETRYABLE: tuple[str, ...] = tuple(name for name, spec in COMMANDS.items() if spec.retryable)
EXCLUSIVE: frozenset[str] = frozenset(name for name, spec in COMMANDS.items() if spec.exclusive)

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
    spec = COMMANDS.get(word)
    if spec is None:
        meant = closest(word, COMMANDS, cutoff=50)
        raise CommandError(
            f"`{tokens[0]}` is not an equitr command.{_did_you_mean(meant)}", hint=_usage_block(), closest=meant
        )
    flags, text = _split_flags(spec, tokens[1:])
    if spec.needs and not text:
        raise CommandError(f"`/equitr {spec.name}` needs {spec.needs} after it.", hint=f"Usage: `{spec.usage}`")
    return Command(name=spec.name, text=text, **flags)  # type: ignore[arg-type]  # values checked by _split_flags


def _first_line(body: str) -> str:
    stripped = body.lstrip("\ufeff \t\r\n")
    return stripped.split("\n", 1)[0].strip()


def _split_flags(spec: CommandSpec, tokens: list[str]) -> tuple[dict[str, object], str]:
    flags: dict[str, object] = {}
    name, usage = spec.name, f"Usage: `{spec.usage}`"
    i = 0
    while i < len(tokens) and tokens[i].startswith("--"):
        flag, _, inline = tokens[i].partition("=")
        flag = flag.lower()
        if flag not in FLAGS:
            meant = closest(flag, FLAGS, cutoff=50)
            raise CommandError(
                f"`{flag}` is not a flag equitr knows.{_did_you_mean(meant)}",
                hint=usage,
                flag=flag,
                closest=meant,
            )
        if flag not in spec.flags:
            raise CommandError(f"`/equitr {name}` does not take `{flag}`.", hint=usage, flag=flag)
        if inline:
            value = inline
            i += 1
        elif i + 1 < len(tokens):
            value = tokens[i + 1]
            i += 2
        else:
            raise CommandError(f"`{flag}` needs a value.", hint=usage, flag=flag)
        key = flag[2:].replace("-", "_")
        field_name = "budget_usd" if key == "budget" else key
        if field_name in flags:
            raise CommandError(f"`{flag}` is given twice.", hint=usage, flag=flag)
        flags[field_name] = _budget(value) if key == "budget" else _model(flag, value)
    return flags, " ".join(tokens[i:])


def usd_amount(value: str) -> float:
    """`2.5`, `$2.5` or `2.5$` as US dollars; ValueError when it is not a number. Shared with the Action's
    `budget` input, which words its own errors."""
    return float(value.strip().strip("$"))


def budget_in_range(amount: float) -> bool:
    """Whether a budget is more than 0 and at most MAX_BUDGET_USD (NaN is not)."""
    return 0 < amount <= MAX_BUDGET_USD


def _budget(value: str) -> float:
    try:
        amount = usd_amount(value)
    except ValueError:
        raise CommandError(
            f"`--budget {value}` is not an amount in US dollars.", hint="For example: `--budget 2.50`.", flag="--budget"
        ) from None
    if not budget_in_range(amount):
        raise CommandError(
            f"`--budget {value}` must be more than 0 and at most {MAX_BUDGET_USD:g} USD.",
            hint="For example: `--budget 2.50`.",
            flag="--budget",
        )
    return amount


def _model(flag: str, value: str) -> str:
    if not _MODEL_NAME.match(value):
        raise CommandError(
            f"`{flag} {value}` is not a model name.",
            hint="Model names look like `provider/model`, e.g. `ollama/qwen3:30b` or `openai/gpt-4.1-mini`.",
            flag=flag,
        )
    return value


def _did_you_mean(meant: list[str]) -> str:
    return f" Did you mean `{meant[0]}`?" if meant else ""


def _usage_block() -> str:
    return "Commands:\n" + "\n".join(f"- `{spec.usage}` — {spec.summary}" for spec in COMMANDS.values())


def help_markdown() -> str:
    """The body of the `help` reply."""
    return (
        "equitr runs coding-agent work from comments. The command must be the first line of the comment.\n\n"
        + _usage_block()
        + "\n\nFlags are bounded by the repository's `.equitr.toml`."
    )


def resolve(name: str) -> Any:
    """The handler of command `name`, imported now (the worker calls this; the web process never does)."""
    module, _, attr = COMMANDS[name].handler.partition(":")
    return getattr(importlib.import_module(module), attr)

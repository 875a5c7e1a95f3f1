"""`equitr run --repo PATH "task"`: the whole engine on a local repository, no GitHub.

The agent works in a fresh checkout of the commit your repository's HEAD is on now (your working tree is never
touched), with the `.equitr.toml` of that commit, as the App uses the one of the default branch; command-line
flags override it within its bounds. An accepted change becomes a new branch `equitr/<slug>` in your
repository, or `equitr/<slug>-2`, `-3`, … when that name is taken: an existing branch is never moved.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from equitr.agent.asker import Exchange
from equitr.agent.loop import Event
from equitr.config.settings import Settings
from equitr.local import api
from equitr.local.repo import slug as slug  # re-exported: the branch name of a task
from equitr.models.provider import ChatModel
from equitr.redact import redact


@dataclass(frozen=True, slots=True)
class RunOptions:
    repo: Path
    task: str
    # The run's choices, the keywords of `equitr.fix` (model, budget_usd, test_command …); one left out or None:
    # what the repository's `.equitr.toml` says (or its default), as for a job of the App.
    fix: api.FixOptions = field(default_factory=api.FixOptions)
    transcript: Path | None = None  # where to write every model call (JSON lines), for reading the prompts


def _progress(out: Callable[[str], None]) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        if event.kind == "info":  # what the run works with: models, checkout, configuration, tests, sandbox
            out(event.message)
            return
        if event.kind == "plan" and "new" in event.data:
            return  # a tool-calling step: its own `step` event says what it is
        out(f"  [{event.kind}] {event.message}")
        for line in event.data.get("steps", []):
            out(f"      - {line}")

    return show


async def run_local(
    options: RunOptions,
    settings: Settings,
    *,
    model: ChatModel | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """`equitr run`: `equitr.fix` (bot/local/api.py) with its progress and its result printed."""
    calls: list[Exchange] = []
    try:
        keywords: api.FixOptions = {
            **options.fix,
            "on_event": _progress(out),
            "settings": settings,
            "chat_model": model,
            "transcript": calls,
        }
        result = await api.fix(options.repo, options.task, **keywords)
    except BaseException:
        if calls:  # the run had started: what the models saw is what explains the failure
            _transcript(options, calls, out)
        raise
    _transcript(options, calls, out)
    report(result, out=out)
    return 0 if result.accepted else EXIT_NOT_ACCEPTED


def _transcript(options: RunOptions, calls: Sequence[Exchange], out: Callable[[str], None]) -> None:
    if options.transcript is not None:
        write_transcript(options.transcript, calls)
        out(f"transcript of {len(calls)} model calls: {options.transcript}")


def write_transcript(path: Path, exchanges: Sequence[Exchange]) -> None:
    """Every model call as one JSON line (secrets redacted): the prompts exactly as the models saw them."""
    with path.open("w", encoding="utf-8") as fh:
        for exchange in exchanges:
            fh.write(redact(json.dumps(exchange.to_json(), ensure_ascii=False)) + "\n")


# The run ended cleanly but the supervisor accepted no change: distinct from 1 (an error), so that scripts
# can tell "the model could not do it" from "equitr could not run".
EXIT_NOT_ACCEPTED = 3


def report(result: api.FixResult, *, out: Callable[[str], None]) -> None:
    out("")
    out(f"result: {result.status} — {result.reason}")
    out(f"strategy: {result.strategy}")
    if result.hint:
        out(f"  → {result.hint}")
    if result.tests_before is not None:
        if result.setup:
            out(result.setup)
        out(f"tests before: {result.tests_before.summary}")
    if result.tests_after is not None:
        out(f"tests after:  {result.tests_after.summary}")
    if result.branch:
        out(f"branch: {result.branch} (try it: git diff HEAD...{result.branch})")
        if result.branches_taken:
            names = " or ".join(result.branches_taken)
            out(f"  (not {names}: taken already; equitr never moves an existing branch)")
    elif result.changed:
        out("the change was not accepted, so no branch was created; the diff was:")
    if result.diff and not result.branch:
        out(result.diff[:4000])
    out("")
    out(result.cost_table())
    sys.stdout.flush()

"""The command table is the one place a command is declared: these tests are what make adding a row enough."""

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from equitr.config.settings import Settings
from equitr.errors import CommandError
from equitr.events import commands
from equitr.events.commands import COMMANDS, RETRYABLE, USAGE, help_markdown, parse
from equitr.github.scope import COMMENT_ONLY, for_job
from equitr.handlers.handlers import WorkEnv, handlers


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_row_names_a_handler_that_imports(name: str) -> None:
    handler = commands.resolve(name)
    assert inspect.iscoroutinefunction(handler), COMMANDS[name].handler
    assert len(inspect.signature(handler).parameters) == 2, "handlers take (ctx, env)"


def test_the_worker_has_exactly_one_handler_per_row(tmp_path: Path) -> None:
    env = WorkEnv(settings=Settings(), access=None, workdir=tmp_path)  # type: ignore[arg-type]  # never called
    assert set(handlers(env)) == set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_usage_flags_and_help_come_from_the_row(name: str) -> None:
    spec = COMMANDS[name]
    assert USAGE[name] == spec.usage
    assert f"`{spec.usage}` — {spec.summary}" in help_markdown()
    for flag in commands.FLAGS:
        body = f"/equitr {name} {flag} 2 {'x' if spec.needs else ''}"
        if flag in spec.flags:
            assert parse(body) is not None
        else:
            with pytest.raises(CommandError, match="does not take"):
                parse(body)
    if spec.needs:
        with pytest.raises(CommandError, match=f"needs {spec.needs}"):
            parse(f"/equitr {name}")


def test_retry_repeats_the_work_commands_and_never_run_control() -> None:
    assert RETRYABLE[:4] == ("fix", "review", "ask", "plan")
    assert not {"status", "cancel", "retry", "cost", "help"} & set(RETRYABLE)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_row_asks_for_the_token_its_row_names(name: str) -> None:
    permissions = dict(for_job(name, "octo/repo").permissions)
    token = COMMANDS[name].token
    if token == "comment":
        assert permissions == COMMENT_ONLY
    else:
        assert permissions["contents"] == ("write" if token == "push" else "read")


def test_only_cancel_is_applied_at_dispatch() -> None:
    assert [n for n, s in COMMANDS.items() if s.at_dispatch] == ["cancel"]


def test_the_web_process_does_not_import_any_handler() -> None:
    """Handlers are import paths so that `equitr serve` without workers stays light."""
    code = (
        "import sys, equitr.web.app, equitr.web.dispatch, equitr.web.services\n"
        "from equitr.events.commands import COMMANDS\n"
        "mods = {s.handler.partition(':')[0] for s in COMMANDS.values()}\n"
        "print(sorted(m for m in mods if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_commands_that_push_run_one_at_a_time_and_the_free_ones_can_wait_in_the_queue() -> None:
    from equitr.jobs.runner import EXCLUSIVE, PARKABLE

    assert sorted(EXCLUSIVE) == ["fix", "retry"]
    assert sorted(PARKABLE) == ["cancel", "cost", "help", "status"]

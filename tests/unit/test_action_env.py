"""The Action's inputs (`equitr.action.env`): read as the `/equitr` command flags read the same values."""

from __future__ import annotations

import argparse

import pytest

from equitr.action.env import Options, RunnerEnv, resolve_options
from equitr.errors import CommandError, ConfigError
from equitr.events.commands import parse

ENV = RunnerEnv(event_name="schedule", payload={}, repository="octo/repo")


def _options(budget: str) -> Options:
    args = argparse.Namespace(label=None, max_issues=None, budget=budget, task=None, issue=None, fail_on_error=False)
    return resolve_options(args, ENV)


@pytest.mark.parametrize("text", ["2.5", "$2.50", "2.5$", "1000", "1e2", "0", "-1", "1000.01", "nan", "inf", "two"])
def test_the_budget_input_takes_exactly_what_the_budget_flag_takes(text: str) -> None:
    try:
        command = parse(f"/equitr fix --budget {text}")
        assert command is not None
        flag = command.budget_usd
    except CommandError:
        flag = None
    try:
        given: float | None = _options(text).budget_usd
    except ConfigError as exc:
        assert "budget must be" in exc.message
        given = None
    assert given == flag


def test_a_budget_out_of_range_names_the_cap() -> None:
    with pytest.raises(ConfigError, match=r"at most 1000 \(USD\), not 5000\."):
        _options("5000")

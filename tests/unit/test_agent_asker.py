"""A model call is bounded by EQUITR_MODEL_TIMEOUT per try and by the job's time limit in all (R7)."""

from __future__ import annotations

import asyncio

import pytest

from equitr.agent.asker import Calls
from equitr.agent.ledger import Guard, Ledger
from equitr.config.flags import Limits
from equitr.errors import LimitReached
from equitr.models.types import ChatRequest, Message, Reply


class Hanging:
    """A model whose calls (retries and fallback included) never end, recording the timeout it was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    async def chat(self, request: ChatRequest) -> Reply:
        self.timeouts.append(request.timeout_s)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def calls(model: Hanging, *, wall_s: float, timeout_s: float) -> Calls:
    ledger = Ledger()
    guard = Guard(Limits(max_wall_s=wall_s), ledger)
    return Calls(model, supervisor="m", worker="m", guard=guard, ledger=ledger, timeout_s=timeout_s)


async def test_a_call_that_outlives_the_job_time_limit_ends_as_the_time_limit() -> None:
    model = Hanging()
    with pytest.raises(LimitReached, match="time limit"):
        await asyncio.wait_for(
            calls(model, wall_s=0.5, timeout_s=120).ask("supervisor", [Message("user", "hi")], purpose="plan"), 30
        )
    assert model.timeouts and model.timeouts[0] <= 1.0  # each try is capped by what is left of the job, too


async def test_each_try_gets_the_configured_timeout() -> None:
    model = Hanging()
    task = asyncio.create_task(calls(model, wall_s=1800, timeout_s=42).ask("worker", [], purpose="edit"))
    await asyncio.sleep(0.05)
    task.cancel()
    assert model.timeouts == [42]

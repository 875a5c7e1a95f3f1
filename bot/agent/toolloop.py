"""The tool-calling strategy: the supervisor calls `search`, `file`, `git` and `run` itself, one step at a
time, and sees each result before the next — for models whose server calls tools natively.

    round (up to `max_iterations`)
      converse   model → tool calls → each validated (the interpretation layer's aliases and checks) and run
                 through the same `Agent.step` as a plan's steps → results back to the model … until it
                 answers without a tool call
      test       the repository's tests
      review     the same review and rules as the plan strategy; "revise" goes back to the model with the
                 reviewer's reason and the new failure

Everything else is the plan strategy's: the limits (every call and every tool step passes `Guard.check`, so
budget, steps and time bound the conversation), the sandbox and path guards of the tools, worker edits (an
edit without `search`/`replace` goes to a worker with its `description`), the ledger, the trajectory, the
events behind the status comment, and the result.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from equitr.agent import prompts, repomap
from equitr.agent.loop import Entry
from equitr.interpret.prompt import tool_params
from equitr.interpret.result import describe
from equitr.interpret.validate import check_step
from equitr.models.types import Message, ToolCall, tool_spec
from equitr.monitor.records import timed
from equitr.tools.registry import SPECS, Step

if TYPE_CHECKING:
    from equitr.agent.loop import Agent, AgentResult, Task

MAX_RESULT_CHARS = 8000  # one tool result in the conversation; a model reads a long file in parts

TOOLS: list[dict[str, Any]] = [
    tool_spec(spec.name, spec.description, tool_params(spec.name, description=spec.takes_description))
    for spec in SPECS.values()
]

SYSTEM = """\
You fix an issue in a code repository by calling tools, one step at a time; each result comes back to you. \
Find the cause (the failure below, the code it points to), make the smallest change that fixes it (file \
edit: `search` is the exact current text, copied from what you read, without line numbers), run the tests, \
and when they pass, answer in one sentence what you changed, without calling a tool. If nothing needs to \
change, change nothing and say why."""


class ToolRounds:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.steps: list[Step] = []

    async def run(self, task: Task, result: AgentResult) -> AgentResult:
        agent = self.agent
        messages = await self._opening(task)
        for iteration in range(1, agent.limits.max_iterations + 1):
            result.iterations = iteration
            agent.begin_iteration()
            agent.emit("planning", f"iteration {iteration}: {agent.supervisor} works with tools")
            final = await self._converse(task, messages, iteration, result)
            agent.trajectory.append(Entry(iteration, "supervisor", "done with tools", True, final[:200]))
            result.diff = await asyncio.to_thread(agent.diff)
            if agent.nothing_to_change(result):
                return agent.nothing(result)
            if (done := await agent.judge(task, result, iteration)) is not None:
                return done
            tests = result.tests_after
            failure = f"\n\nThe tests now:\n```text\n{tests.evidence(4000)}\n```" if tests and not tests.ok else ""
            messages.append(Message("user", f"The change was not accepted: {agent.feedback}{failure}\nContinue."))
        return agent.out_of_rounds(result)

    async def _opening(self, task: Task) -> list[Message]:
        agent = self.agent
        failing = agent.latest if agent.latest is not None and not agent.latest.ok else None
        failure = failing.evidence(4000) if failing is not None else ""
        index = await asyncio.to_thread(repomap.scan, agent.tools.root)
        focus = agent.focus(failing, index)
        ranked = repomap.rank(index, request=task.request, failure=failure, focus=focus)
        code = await asyncio.to_thread(agent.code_at, failing, index, task.request)
        system = SYSTEM + "\n\nRepository files:\n" + repomap.render(index, ranked, budget_chars=2500)
        user = prompts.plan_request(request=task.request, failure=failure, code=code)
        return [Message("system", system), Message("user", user)]

    async def _converse(self, task: Task, messages: list[Message], iteration: int, result: AgentResult) -> str:
        """Tool calls until the model answers without one; every call is a step within the run's limits."""
        agent = self.agent
        while True:
            with timed("plan"):  # in this strategy the supervisor plans one step at a time
                reply = await agent.calls.ask("supervisor", messages, purpose="next step", tools=TOOLS)
            if not reply.tool_calls:
                return (reply.content or reply.thinking).strip()
            calls = [c if c.id else ToolCall(c.name, c.arguments, f"call_{i}") for i, c in enumerate(reply.tool_calls)]
            messages.append(Message("assistant", reply.content, tool_calls=tuple(calls)))
            for call in calls:
                output = await self._call(call, task, iteration, result)
                messages.append(Message("tool", _clip(output), tool_call_id=call.id))

    async def _call(self, call: ToolCall, task: Task, iteration: int, result: AgentResult) -> str:
        agent = self.agent
        agent.guard.check(f"the tool call {call.name}")
        agent.guard.count_step()
        try:
            args: Any = json.loads(call.arguments or "{}")
        except ValueError:
            args = call.arguments  # the validator repairs broken JSON, and says what it could not
        checked = check_step({"tool": call.name, "parameters": args}, len(self.steps) + 1)
        if checked.notes:
            agent.ledger.record_repairs([kind for kind, _ in checked.notes], fallback=False)
        if checked.params is None:
            error = "; ".join(checked.errors) or f"the call {call.name} could not be read"
            agent.trajectory.append(Entry(iteration, "supervisor", f"tool call {call.name}", False, error[:200]))
            return f"Error: {error}"
        step = Step(
            step=len(self.steps) + 1,
            tool=checked.tool,
            parameters=checked.params,
            description=checked.description,
        )
        self.steps.append(step)
        result.plan = list(self.steps)
        # The steps so far are the status comment's checklist; `new` is what a terminal prints.
        steps = [describe(s) for s in self.steps]
        agent.emit("plan", f"step {step.step} with tools", steps=steps, new=steps[-1:])
        agent.emit("step", f"step {step.step}: {describe(step)}", step=step.step, total=len(self.steps))
        outcome = await agent.step(step, task, iteration)
        if outcome.ok or step.tool == "run":  # a failing test run is a result, not an error of the call
            return outcome.output
        return f"Error: {outcome.output}"


def _clip(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    return text[:MAX_RESULT_CHARS] + f"\n[… {len(text) - MAX_RESULT_CHARS} more characters: read a smaller part]"


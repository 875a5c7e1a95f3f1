"""The agent loop. Reads like the process it runs:

run
  tests before
  repeat up to `max_iterations`:
    plan      supervisor → interpretation layer (re-ask ≤ 2, then the keyword fallback)
    execute   the plan's steps by dependency layers: reads concurrently, edits in order;
              an edit the plan leaves unspecified goes to a worker model
    test      the repository's test command, in the sandbox
    review    supervisor: accept / revise / stop (the rules decide when its answer is unreadable,
              and never accept a change whose tests fail)
  result      status, diff, tests before/after, cost ledger, repairs, trajectory
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.agent import prompts, repomap, testcmd
from bot.agent.calls import Calls
from bot.agent.edits import FORMATS, EditFormatError
from bot.agent.ledger import Guard, Ledger, LimitReached, Limits
from bot.errors import BudgetExceeded, EquitrError, ModelError, PathRefused, ToolError
from bot.interpret import (
    MAX_REASKS,
    PLAN_JSON_SCHEMA,
    interpret,
    needs_reask,
    plan_messages,
    reask_error,
    reask_messages,
)
from bot.interpret.result import Interpretation
from bot.models.client import ChatModel
from bot.plan import build_graph
from bot.sandbox.context import ToolContext, ToolResult
from bot.sandbox.gitsafe import git_in, stage
from bot.sandbox.paths import read_regular, resolve_in_checkout
from bot.tools import registry
from bot.tools.file import MAX_READ_BYTES
from bot.tools.schema import FileParams, RunParams, Step

Status = Literal["accepted", "stopped", "failed"]
Mode = Literal["fix", "ask", "plan"]
MAX_FILE_CHARS_FOR_WORKER = 24_000
# Small models ramble until the limit: cap each kind of answer near what it needs.
EDIT_MAX_TOKENS = 768
REVIEW_MAX_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Task:
    request: str
    mode: Mode = "fix"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # planning, plan, step, worker, testing, review, done
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TestRun:
    ok: bool
    exit_code: int | None
    summary: str
    output: str

    def evidence(self, limit: int) -> str:
        """What the models are shown: stdout and stderr (unittest and many runners report on stderr),
        trimmed from the middle with the failure report kept."""
        return testcmd.evidence(self.output, limit)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the trajectory."""

    iteration: int
    actor: str  # supervisor, worker, tool
    what: str
    ok: bool = True
    detail: str = ""


@dataclass(slots=True)
class AgentResult:
    status: Status
    reason: str
    ledger: Ledger
    plan: list[Step] = field(default_factory=list)
    diff: str = ""
    tests_before: TestRun | None = None
    tests_after: TestRun | None = None
    trajectory: list[Entry] = field(default_factory=list)
    iterations: int = 0
    hint: str = ""
    test_command: str = ""
    setup: str = ""  # the repository's setup command and how it went, when it has one
    error: EquitrError | None = None  # what stopped the run (budget, a limit, the model), for a formatted error

    @property
    def changed(self) -> bool:
        return bool(self.diff.strip())


class Agent:
    def __init__(
        self,
        *,
        model: ChatModel,
        supervisor: str,
        worker: str,
        tools: ToolContext,
        limits: Limits | None = None,
        on_event: Callable[[Event], None] | None = None,
        edit_format: str = "search-replace",
        max_tokens: int = 1024,
        timeout_s: float = 300.0,
    ) -> None:
        self.supervisor = supervisor
        self.worker = worker
        self.tools = tools
        self.limits = limits or Limits()
        self.on_event = on_event or (lambda event: None)
        self.fmt = FORMATS[edit_format]
        self.ledger = Ledger()
        self.guard = Guard(self.limits, self.ledger)
        self.calls = Calls(
            model,
            supervisor=supervisor,
            worker=worker,
            guard=self.guard,
            ledger=self.ledger,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
        )
        self.trajectory: list[Entry] = []
        self._edited: set[str] = set()
        self.observations: list[tuple[str, str]] = []
        self._refused: list[str] = []  # writes the sandbox refused, told to the supervisor when it plans again
        self._seen_paths: list[str] = []

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, task: Task) -> AgentResult:
        result = AgentResult(
            status="stopped",
            reason="",
            ledger=self.ledger,
            trajectory=self.trajectory,
            test_command=self.tools.test_command,
        )
        base = await asyncio.to_thread(self._head)
        try:
            if task.mode == "fix":
                result.tests_before = await self._test(0)
                if self.tools.setup.result is not None:  # it ran just before those tests
                    result.setup = self.tools.setup.result.report()
                    self._emit("testing", result.setup)
            feedback = ""
            for iteration in range(1, self.limits.max_iterations + 1):
                result.iterations = iteration
                plan = await self._plan(task, iteration, feedback, result.tests_before)
                result.plan = list(plan.steps)
                if task.mode == "plan":
                    return self._finish(result, "accepted", "plan ready; nothing was changed")
                await self._execute(plan.steps, task, iteration)
                if task.mode == "ask":
                    return self._finish(result, "accepted", "answered from the repository")
                if not self._edited:
                    await self._edit_without_plan(task, iteration, result.tests_before)
                result.diff = await asyncio.to_thread(self._diff, base)
                result.tests_after = await self._test(iteration)
                review = await self._review(task, result, iteration)
                if review.decision == "accept":
                    return self._finish(result, "accepted", review.reason)
                if review.decision == "stop":
                    return self._finish(result, "stopped", review.reason)
                feedback = review.reason
            return self._finish(
                result,
                "stopped",
                f"no accepted change after {self.limits.max_iterations} iterations",
                hint="Retry with more detail in the instructions, or a stronger model (`--model`).",
            )
        except (BudgetExceeded, LimitReached) as exc:
            result.diff, result.error = await asyncio.to_thread(self._diff, base), exc
            return self._finish(result, "stopped", exc.message, hint=exc.hint or "")
        except ModelError as exc:
            result.error = exc
            return self._finish(result, "failed", exc.message, hint=exc.hint or "")

    async def answer(self, question: str) -> tuple[str, AgentResult]:
        """Explore read-only, then have the supervisor answer from what the tools found."""
        result = await self.run(Task(question, mode="ask"))
        if result.status != "accepted":
            return "", result
        try:
            reply = await self.calls.ask(
                "supervisor",
                prompts.answer_messages(question=question, observations=self.observations),
                purpose="answer",
            )
        except (BudgetExceeded, LimitReached, ModelError) as exc:
            result.error = exc
            return "", self._finish(
                result, "failed" if isinstance(exc, ModelError) else "stopped", exc.message, hint=exc.hint or ""
            )
        return (reply.content or reply.thinking).strip(), result

    def _finish(self, result: AgentResult, status: Status, reason: str, *, hint: str = "") -> AgentResult:
        result.status, result.reason, result.hint = status, reason, hint
        self._emit("done", f"{status}: {reason}", status=status)
        return result

    # -- plan --------------------------------------------------------------------------------------

    async def _plan(self, task: Task, iteration: int, feedback: str, tests: TestRun | None) -> Interpretation:
        self._emit("planning", f"iteration {iteration}: planning with {self.supervisor}")
        request = task.request
        if feedback:
            request += f"\n\nThe previous attempt was not accepted: {feedback}"
        if tests is not None and not tests.ok and iteration == 1:
            request += f"\n\nThe tests currently fail:\n{tests.evidence(1500)}"
        if self._refused:
            refused = "\n".join(f"- {text}" for text in self._refused[-10:])
            request += f"\n\nThese writes were refused; do not plan them again:\n{refused}"
        repo_map = await asyncio.to_thread(repomap.build, self.tools.root, task=task.request)
        messages = plan_messages(request, repo_map=repo_map)
        interp: Interpretation | None = None
        for attempt in range(MAX_REASKS + 1):
            reply = await self.calls.ask("supervisor", messages, purpose="plan", schema=PLAN_JSON_SCHEMA)
            interp = interpret(reply, request=task.request, model=reply.model)
            self.ledger.record_repairs([r.kind for r in interp.repairs if r.kind != "fallback"], fallback=False)
            if not needs_reask(interp) or attempt == MAX_REASKS:
                break
            self.ledger.reasks += 1
            messages = reask_messages(messages, reply.content or reply.thinking, reask_error(interp))
        assert interp is not None
        if interp.fallback:
            self.ledger.record_repairs(["fallback"], fallback=True)
        kind = "fallback plan" if interp.fallback else "plan"
        self.trajectory.append(Entry(iteration, "supervisor", f"{kind}: {len(interp.steps)} steps"))
        self._emit("plan", f"{kind} with {len(interp.steps)} steps", steps=[_describe(s) for s in interp.steps])
        return interp

    # -- execute -----------------------------------------------------------------------------------

    async def _execute(self, steps: Sequence[Step], task: Task, iteration: int) -> None:
        graph = build_graph(steps)
        total = len(steps)
        done = 0
        gate = asyncio.Semaphore(self.limits.max_parallel)

        async def one(step: Step) -> None:
            nonlocal done
            async with gate:
                self.guard.check(f"step {step.step}")
                self.guard.count_step()
                done += 1
                self._emit("step", f"step {done}/{total}: {_describe(step)}", step=step.step, total=total)
                await self._step(step, task, iteration)

        for layer in graph.layers():
            if task.mode != "fix":
                layer = [s for s in layer if not _mutates(s)]
            reads = [s for s in layer if not _mutates(s)]
            await asyncio.gather(*(one(s) for s in reads))
            for step in (s for s in layer if _mutates(s)):
                await one(step)

    async def _step(self, step: Step, task: Task, iteration: int) -> ToolResult:
        params = step.parameters
        if isinstance(params, FileParams) and params.action in ("edit", "write") and _incomplete(params):
            return await self._worker_edit(params.path, step.description or task.request, task, iteration)
        if isinstance(params, RunParams):
            # The loop runs the tests itself after the steps; a planned run is still run (and shown).
            pass
        result = await registry.execute(step, self.tools)
        if isinstance(params, FileParams) and params.action in ("edit", "write") and result.ok:
            self._edited.add(params.path)
        if result.data.get("error") == "PathRefused":
            self._refused.append(_first_line(result.output))
        if isinstance(params, FileParams) and params.action == "read" and result.ok:
            self._seen_paths.append(params.path)
        self._note_paths(result)
        self.observations.append((_describe(step), result.output[:4000]))
        self.trajectory.append(Entry(iteration, "tool", _describe(step), result.ok, _first_line(result.output)))
        return result

    async def _edit_without_plan(self, task: Task, iteration: int, tests: TestRun | None) -> None:
        """The plan changed nothing (typical of a fallback plan): a worker edits the likeliest file."""
        target = self._likeliest_file(tests)
        if target is None:
            self.trajectory.append(Entry(iteration, "worker", "no file to edit was found", False))
            return
        self.guard.check("a worker edit")
        self.guard.count_step()
        await self._worker_edit(target, task.request, task, iteration)

    async def _worker_edit(self, path: str, instruction: str, task: Task, iteration: int) -> ToolResult:
        self._emit("worker", f"worker {self.worker} edits {path}", path=path)
        try:
            real = resolve_in_checkout(self.tools.root, path, for_write=True, policy=self.tools.policy)
            # Never `read_text`: a FIFO swapped in by code under test would block the worker for good.
            data = read_regular(real, MAX_READ_BYTES + 1) if os.path.lexists(real) else b""
            content = data.decode("utf-8", "replace")
        except (PathRefused, OSError) as exc:
            text = exc.message if isinstance(exc, EquitrError) else f"`{path}` cannot be read: {exc.strerror or exc}."
            self.trajectory.append(Entry(iteration, "worker", f"edit {path}", False, text))
            return ToolResult(ok=False, output=text)
        if len(content) > MAX_FILE_CHARS_FOR_WORKER:
            text = f"{path} is too large for a worker edit ({len(content)} characters)."
            self.trajectory.append(Entry(iteration, "worker", f"edit {path}", False, text))
            return ToolResult(ok=False, output=text)
        error = ""
        result = ToolResult(ok=False, output="no attempt")
        for _ in range(MAX_REASKS + 1):
            messages = prompts.edit_messages(
                task=task.request, instruction=instruction, path=path, content=content, fmt=self.fmt, error=error
            )
            reply = await self.calls.ask("worker", messages, purpose=f"edit {path}", max_tokens=EDIT_MAX_TOKENS)
            try:
                result = await self._apply(path, self.fmt.parse(reply.content or reply.thinking))
            except EditFormatError as exc:
                result = ToolResult(ok=False, output=exc.message)
            if result.ok:
                self._edited.add(path)
                break
            error = result.output
            self.ledger.reasks += 1
        self.trajectory.append(Entry(iteration, "worker", f"edit {path}", result.ok, _first_line(result.output)))
        return result

    async def _apply(self, path: str, edits: list[Any]) -> ToolResult:
        outputs = []
        for edit in edits:
            params = (
                FileParams(action="write", path=path, content=edit.replace)
                if not edit.search
                else FileParams(action="edit", path=path, search=edit.search, replace=edit.replace)
            )
            try:
                result = await registry.execute(Step(step=1, tool="file", parameters=params), self.tools)
            except (ToolError, PathRefused) as exc:
                return ToolResult(ok=False, output=exc.message)
            if not result.ok:
                return result
            outputs.append(result.output)
        return ToolResult(ok=True, output="\n".join(outputs))

    # -- test and review ---------------------------------------------------------------------------

    async def _test(self, iteration: int) -> TestRun | None:
        if not self.tools.test_command.strip():
            return None
        self._emit("testing", f"running `{self.tools.test_command}`")
        result = await registry.execute(Step(step=1, tool="run", parameters=RunParams()), self.tools)
        code = result.data.get("exit_code")
        summary = testcmd.summarize(result.output)
        if result.data.get("setup_failed"):
            summary = f"not run: the setup command failed ({result.data['setup_failed']})"[:200]
        run = TestRun(ok=result.ok, exit_code=code, summary=summary, output=result.output)
        self.trajectory.append(Entry(iteration, "tool", f"tests: {run.summary}", run.ok))
        return run

    async def _review(self, task: Task, result: AgentResult, iteration: int) -> prompts.Review:
        last = iteration == self.limits.max_iterations
        tests = result.tests_after
        messages = prompts.review_messages(
            task=task.request,
            diff=result.diff[-6000:],
            tests=(tests.evidence(2500) if tests else ""),
            iteration=iteration,
            last=last,
        )
        reply = await self.calls.ask(
            "supervisor", messages, purpose="review", schema=prompts.REVIEW_SCHEMA, max_tokens=REVIEW_MAX_TOKENS
        )
        review = prompts.parse_review(reply.content or reply.thinking)
        if review is None:
            self.ledger.record_repairs(["review_by_rules"], fallback=False)
        review = _enforce(review, changed=result.changed, tests=tests, last=last)
        self.trajectory.append(Entry(iteration, "supervisor", f"review: {review.decision}", True, review.reason))
        self._emit("review", f"review: {review.decision} — {review.reason}", decision=review.decision)
        return review

    # -- helpers -----------------------------------------------------------------------------------

    def _emit(self, kind: str, message: str, **data: Any) -> None:
        self.on_event(Event(kind, message, data))

    def _head(self) -> str:
        return git_in(self.tools.root, ["rev-parse", "HEAD"]).stdout.strip()

    def _diff(self, base: str) -> str:
        """Stage what the job's tools wrote and show it: the staged state is what gets reviewed and, if
        accepted, committed; anything the tests change afterwards is not part of it."""
        stage(self.tools.root, self.tools.edited, policy=self.tools.policy)
        return git_in(self.tools.root, ["diff", "--cached", base]).stdout

    def _note_paths(self, result: ToolResult) -> None:
        for match in re.finditer(r"^([\w./-]+\.\w+):\d+", result.output, re.MULTILINE):
            self._seen_paths.append(match.group(1))

    def _likeliest_file(self, tests: TestRun | None) -> str | None:
        candidates: list[str] = []
        frames: list[str] = []
        if tests is not None and not tests.ok:
            # Traceback frames name the code under test; prefer them to the test files themselves.
            frames = re.findall(r"^([\w./-]+\.py):\d+:", tests.output, re.MULTILINE)
            frames += re.findall(r'File "([^"]+\.py)", line \d+', tests.output)
            candidates += [f for f in frames if not _is_test(f)]
        # Then files the plan read or found, and only last the failing tests themselves.
        candidates += [p for p in self._seen_paths if not _is_test(p)]
        if tests is not None and not tests.ok:
            candidates += [f for f in frames if _is_test(f)]
        root = self.tools.root.resolve()
        for candidate in candidates:
            path = Path(candidate)
            if path.is_absolute():
                # Tracebacks from inside the sandbox name absolute paths in the checkout.
                if not path.resolve().is_relative_to(root):
                    continue
                candidate = path.resolve().relative_to(root).as_posix()
            if (root / candidate).is_file():
                return candidate
        return None


def _enforce(review: prompts.Review | None, *, changed: bool, tests: TestRun | None, last: bool) -> prompts.Review:
    """The rules that hold whatever the supervisor said: no accepting red tests or an empty change."""
    tests_ok = tests is None or tests.ok
    if review is None:
        if changed and tests_ok:
            return prompts.Review("accept", "the change is made and the tests pass", False)
        return prompts.Review("stop" if last else "revise", _why_not(changed, tests), False)
    if review.decision == "accept" and not (changed and tests_ok):
        return prompts.Review("stop" if last else "revise", _why_not(changed, tests), review.parsed)
    return review


def _why_not(changed: bool, tests: TestRun | None) -> str:
    if not changed:
        return "no change was made to the repository"
    return f"the tests fail ({tests.summary})" if tests is not None else "the change is not verified"


def _mutates(step: Step) -> bool:
    """Steps that run alone, never beside another: writes, commits, and test runs (code under test can
    swap files for symlinks while a read checks and opens a path)."""
    params = step.parameters
    return (
        (isinstance(params, FileParams) and params.action in ("edit", "write"))
        or (step.tool == "git" and getattr(params, "action", "") == "commit")
        or isinstance(params, RunParams)
    )


def _incomplete(params: FileParams) -> bool:
    if params.action == "write":
        return params.content is None
    return params.search is None or params.replace is None


def _describe(step: Step) -> str:
    data = step.parameters.model_dump(exclude_none=True, exclude_defaults=True)
    shown = ", ".join(f"{k}={str(v)[:60]!r}" for k, v in data.items() if k not in ("content", "replace", "search"))
    return f"{step.tool}({shown})"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _is_test(path: str) -> bool:
    name = Path(path).name
    return name.startswith("test_") or name.endswith("_test.py") or "/tests/" in f"/{path}"

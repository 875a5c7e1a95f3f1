"""The agent loop. Reads like the process it runs:

run
  tests before
  repeat up to `max_iterations`:
    plan      supervisor → interpretation layer (re-ask ≤ 2, then the keyword fallback). The supervisor
              sees the request, the failing tests' output (stdout and stderr, trimmed from the middle), the
              code where the failure happens, a repository map ranked by the request and the traceback,
              what earlier steps found, the change so far and the last review
    execute   the plan's steps by dependency layers: reads concurrently, edits in order; an edit the plan
              leaves open goes to a worker model with the step's instruction. A plan that only looked is
              followed by one more plan in the same iteration, with what it found
    test      the repository's test command, in the sandbox
    review    supervisor: accept / revise / stop (the rules decide when its answer is unreadable,
              and never accept a change whose tests fail)
  result      status, diff, tests before/after, cost ledger, repairs, trajectory

Tests that pass before any change and a plan that changes nothing end the run: nothing to change.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from equitr.agent import evidence, prompts, repomap, salvage, testcmd
from equitr.agent.asker import Calls
from equitr.agent.edits import FORMATS, Edit
from equitr.agent.ledger import Guard, Ledger
from equitr.agent.view import numbered, strip_gutter, view
from equitr.config.flags import Limits
from equitr.config.repo import Strategy
from equitr.errors import (
    BudgetExceeded,
    ConfigError,
    EditFormatError,
    EquitrError,
    LimitReached,
    ModelError,
    PathRefused,
    ToolError,
)
from equitr.interpret import (
    MAX_REASKS,
    PLAN_JSON_SCHEMA,
    Evidence,
    interpret,
    needs_reask,
    plan_messages,
    reask_error,
    reask_messages,
)
from equitr.interpret.graph import build_graph
from equitr.interpret.request import facts
from equitr.interpret.result import Interpretation, describe
from equitr.models.client import ToolAware
from equitr.models.provider import ChatModel
from equitr.monitor.records import timed
from equitr.sandbox.gitsafe import git_in, stage
from equitr.sandbox.paths import read_regular, resolve_in_checkout
from equitr.tools import registry
from equitr.tools.base import ToolContext, ToolResult
from equitr.tools.file import FileParams, apply_edit
from equitr.tools.registry import SPECS, Step
from equitr.tools.run import RunParams

Status = Literal["accepted", "stopped", "failed"]
Mode = Literal["fix", "ask", "plan"]
MAX_EDIT_FILE_BYTES = 2_000_000  # what a worker may be asked to edit at all (it is shown in part when long)
# What each prompt may spend on the test output (characters; the middle goes first).
PLAN_FAILURE_CHARS = 4000
WORKER_FAILURE_CHARS = 2500
REVIEW_TESTS_CHARS = 3000
RUN_RESULT_CHARS = 6000  # a test run a step asked for, as its result
CODE_CHARS = 3000  # the code at the failure, for the supervisor
MAP_CHARS = 2500


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
    nothing_to_change: bool = False  # the tests passed and no step found anything to change
    strategy: str = "plan"  # plan (plan, then execute) or tools (the supervisor calls tools itself)

    @property
    def changed(self) -> bool:
        return bool(self.diff.strip())


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """How one worker edit ended: applied, no change needed (with the reason), or failed."""

    result: ToolResult
    no_change: str = ""
    skipped: bool = False


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
        max_output_tokens: int | None = None,
        timeout_s: float = 120.0,  # EQUITR_MODEL_TIMEOUT's default
        strategy: Strategy = "auto",
    ) -> None:
        self.supervisor = supervisor
        self.strategy = strategy
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
            max_output_tokens=max_output_tokens,
            timeout_s=timeout_s,
        )
        self.trajectory: list[Entry] = []
        self.observations: list[tuple[str, str]] = []
        self.findings: list[prompts.Finding] = []
        self.latest: TestRun | None = None  # the last test run, whichever step ran it
        self.feedback = ""  # the last review's reason
        self._feedback_from_model = False
        self._edits_tried = 0  # edits attempted in this iteration (planned, by a worker, or skipped)
        self._edits_failed = 0
        self._asked: set[str] = set()  # worker requests already made: an identical one is never repeated
        self._refused: list[str] = []  # writes the sandbox refused, told to the supervisor when it plans again
        self._seen_paths: list[str] = []
        self._base = ""

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, task: Task) -> AgentResult:
        result = AgentResult(
            status="stopped",
            reason="",
            ledger=self.ledger,
            trajectory=self.trajectory,
            test_command=self.tools.test_command,
        )
        self._base = await asyncio.to_thread(self._head)
        try:
            if task.mode == "fix":
                with timed("tests_before"):
                    result.tests_before = self.latest = await self.test(0)
                if self.tools.setup.result is not None:  # it ran just before those tests
                    result.setup = self.tools.setup.result.report()
                    self.emit("testing", result.setup)
            result.strategy = await self._choose(task)
            self.trajectory.append(Entry(0, "supervisor", f"strategy: {result.strategy}", True, self.supervisor))
            if result.strategy == "tools":
                from equitr.agent.toolloop import ToolRounds  # the strategy's module imports this one

                return await ToolRounds(self).run(task, result)
            return await self._plan_rounds(task, result)
        except (BudgetExceeded, LimitReached) as exc:
            result.diff, result.error = await asyncio.to_thread(self.diff), exc
            return self.finish(result, "stopped", exc.message, hint=exc.hint or "")
        except ModelError as exc:
            result.error = exc
            return self.finish(result, "failed", exc.message, hint=exc.hint or "")

    async def _plan_rounds(self, task: Task, result: AgentResult) -> AgentResult:
        """The plan strategy: plan → execute → test → review, up to `max_iterations` rounds."""
        for iteration in range(1, self.limits.max_iterations + 1):
            result.iterations = iteration
            self.begin_iteration()
            plan = await self._plan(task, iteration)
            result.plan = list(plan.steps)
            if task.mode == "plan":
                return self.finish(result, "accepted", "plan ready; nothing was changed")
            await self._execute(plan.steps, task, iteration)
            if task.mode == "ask":
                return self.finish(result, "accepted", "answered from the repository")
            if not self._edits_tried and not plan.fallback:
                # The plan only looked: plan once more, with what it found, before anyone edits.
                plan = await self._plan(task, iteration, again=True)
                result.plan += list(plan.steps)
                await self._execute(plan.steps, task, iteration)
            result.diff = await asyncio.to_thread(self.diff)
            if self.nothing_to_change(result):
                return self.nothing(result)
            if not self._edits_tried:
                await self._edit_without_plan(task, iteration)
                result.diff = await asyncio.to_thread(self.diff)
            if (done := await self.judge(task, result, iteration)) is not None:
                return done
        return self.out_of_rounds(result)

    async def _choose(self, task: Task) -> Literal["plan", "tools"]:
        """`plan` or `tools` for this run: what was asked, or for `auto` what the supervisor's server can do
        (native tool calling, probed once per server and model like structured output). Only `fix` runs
        use tools; `plan` and `ask` show or answer from a plan."""
        if task.mode != "fix" or self.strategy == "plan":
            return "plan"
        if self.strategy == "tools":
            return "tools"
        model = self.calls.model
        if not isinstance(model, ToolAware):
            return "plan"
        try:
            native = await model.tool_support(self.supervisor, timeout_s=min(60.0, self.calls.timeout_s))
        except (ModelError, ConfigError):
            return "plan"  # the calls that follow report a real outage; the probe only decides the strategy
        return "tools" if native else "plan"

    def begin_iteration(self) -> None:
        self._edits_tried = self._edits_failed = 0

    async def judge(self, task: Task, result: AgentResult, iteration: int) -> AgentResult | None:
        """A round's end, the same in both strategies: the tests again, then the supervisor's review. The
        finished result when it accepts or stops; None, with its reason noted for the next round, to rework."""
        with timed("tests_after"):
            result.tests_after = self.latest = await self.test(iteration)
        review = await self.review(task, result, iteration)
        if review.decision == "accept":
            return self.finish(result, "accepted", review.reason)
        if review.decision == "stop":
            return self.finish(result, "stopped", review.reason)
        self.note(review)
        return None

    def out_of_rounds(self, result: AgentResult) -> AgentResult:
        return self.finish(
            result,
            "stopped",
            f"no accepted change after {self.limits.max_iterations} iterations",
            hint="Retry with more detail in the instructions, or a stronger model (`--model`).",
        )

    def note(self, review: prompts.Review) -> None:
        """The reviewer's reason, for the next round's prompts."""
        self.feedback, self._feedback_from_model = review.reason, review.parsed

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
            return "", self.finish(
                result, "failed" if isinstance(exc, ModelError) else "stopped", exc.message, hint=exc.hint or ""
            )
        text = (reply.content or reply.thinking).strip()
        if reply.truncated:  # said, not hidden: the end of the answer is missing
            text += "\n\n(The answer was cut off at the model's output limit.)"
        return text, result

    def finish(self, result: AgentResult, status: Status, reason: str, *, hint: str = "") -> AgentResult:
        result.status, result.reason, result.hint = status, reason, hint
        self.emit("done", f"{status}: {reason}", status=status)
        return result

    def nothing_to_change(self, result: AgentResult) -> bool:
        """The tests passed before anything was done, nothing was changed, and no edit went wrong: there is
        nothing to fix (the issue is likely fixed already). Never invent an edit then."""
        before = result.tests_before
        return before is not None and before.ok and not result.changed and not self._edits_failed

    def nothing(self, result: AgentResult) -> AgentResult:
        result.nothing_to_change = True
        said = next((f.output for f in reversed(self.findings) if f.what.startswith("worker")), "")
        reason = (
            "Nothing to change: the tests pass without any change and no step found anything to fix, so the "
            "issue looks fixed already." + (f" ({said})" if said else "")
        )
        self.trajectory.append(Entry(result.iterations, "supervisor", "nothing to change", True, reason))
        return self.finish(
            result,
            "stopped",
            reason,
            hint="If it is not fixed, say what is still wrong in the request (on GitHub: `/equitr fix` followed "
            "by what to change).",
        )

    # -- plan --------------------------------------------------------------------------------------

    async def _plan(self, task: Task, iteration: int, *, again: bool = False) -> Interpretation:
        with timed("plan"):
            return await self._plan_once(task, iteration, again=again)

    async def _plan_once(self, task: Task, iteration: int, *, again: bool) -> Interpretation:
        what = "planning again with what the steps found" if again else "planning"
        self.emit("planning", f"iteration {iteration}: {what} with {self.supervisor}")
        failing = self.latest if self.latest is not None and not self.latest.ok else None
        failure = failing.evidence(PLAN_FAILURE_CHARS) if failing is not None else ""
        index = await asyncio.to_thread(repomap.scan, self.tools.root)
        focus = self.focus(failing, index)
        ranked = repomap.rank(index, request=task.request, failure=failure, focus=focus)
        code = await asyncio.to_thread(self.code_at, failing, index, task.request)
        diff = await asyncio.to_thread(self.diff) if iteration > 1 else ""
        request = prompts.plan_request(
            request=task.request,
            failure=failure,
            failure_is_new=failing is not None and bool(diff),
            code=code,
            findings=[f for f in self.findings if f.iteration >= iteration - 1],
            diff=diff,
            feedback=self.feedback,
            refused=self._refused,
        )
        messages = plan_messages(request, repo_map=repomap.render(index, ranked, budget_chars=MAP_CHARS))
        known = Evidence(
            failure=request,  # all the evidence shown with the task: the failure, the code, earlier findings
            files=frozenset(index.files),
            pointed=tuple(dict.fromkeys([*focus, *(p for p in ranked[:3] if p in index.sources)])),
            symbols=index.symbols,
            instructions=messages[0].content,
        )
        interp: Interpretation | None = None
        for attempt in range(MAX_REASKS + 1):
            reply = await self.calls.ask("supervisor", messages, purpose="plan", schema=PLAN_JSON_SCHEMA)
            interp = interpret(reply, request=task.request, model=reply.model, evidence=known)
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
        self.emit("plan", f"{kind} with {len(interp.steps)} steps", steps=[describe(s) for s in interp.steps])
        return interp

    def focus(self, failing: TestRun | None, index: repomap.Index) -> list[str]:
        """The project files the failure's tracebacks run through, innermost frame first."""
        if failing is None:
            return []
        frames = evidence.innermost(failing.output, str(self.tools.root.resolve()), index.files, skip_tests=False)
        own = [f.path for f in frames if not evidence.is_test_path(f.path)]
        tests = [f.path for f in frames if evidence.is_test_path(f.path)]
        return list(dict.fromkeys([*own, *tests]))

    def code_at(self, failing: TestRun | None, index: repomap.Index, request: str) -> str:
        """The lines around the innermost project frames of the failure, and the definitions the request
        names: what a programmer looks at first."""
        blocks: list[str] = []
        used = 0
        root = str(self.tools.root.resolve())
        spots: list[tuple[str, int, int]] = []
        if failing is not None:
            for frame in evidence.innermost(failing.output, root, index.files, skip_tests=False)[:4]:
                spots.append((frame.path, max(1, frame.line - 4), frame.line + 3))
        named = facts(request)
        for name in [*named.symbols, *named.texts][:3]:
            for path, source in index.sources.items():
                found = next((d for d in source.defs if d.name == name.rsplit(".", 1)[-1]), None)
                if found is not None:
                    spots.append((path, found.line, found.line + 24))
                    break
        seen: set[tuple[str, int]] = set()
        for path, first, last in spots:
            if (path, first) in seen:
                continue
            seen.add((path, first))
            lines = self._lines_of(path)
            if not lines:
                continue
            last = min(last, len(lines))
            block = f"`{path}` lines {first}-{last}:\n```\n{numbered(lines[first - 1 : last], first)}\n```"
            if used + len(block) > CODE_CHARS:
                break
            blocks.append(block)
            used += len(block)
        return "\n".join(blocks)

    def _lines_of(self, path: str) -> list[str]:
        try:
            real = resolve_in_checkout(self.tools.root, path, for_write=False)
            return read_regular(real, MAX_EDIT_FILE_BYTES).decode("utf-8", "replace").splitlines()
        except (PathRefused, OSError):
            return []

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
                self.emit("step", f"step {done}/{total}: {describe(step)}", step=step.step, total=total)
                await self.step(step, task, iteration)

        for layer in graph.layers():
            if task.mode != "fix":
                layer = [s for s in layer if not _mutates(s)]
            reads = [s for s in layer if not _mutates(s)]
            await asyncio.gather(*(one(s) for s in reads))
            for step in (s for s in layer if _mutates(s)):
                await one(step)

    async def step(self, step: Step, task: Task, iteration: int) -> ToolResult:
        """Carry out one validated step: a tool call, or an edit handed to a worker."""
        with timed("step", str(step.step)):
            return await self._step(step, task, iteration)

    async def _step(self, step: Step, task: Task, iteration: int) -> ToolResult:
        params = step.parameters
        editing = isinstance(params, FileParams) and params.action in ("edit", "write")
        if editing:
            self._edits_tried += 1
        if isinstance(params, FileParams) and editing and _incomplete(params):
            outcome = await self.worker_edit(params, step.description or task.request, task, iteration)
            return outcome.result
        if isinstance(params, RunParams):
            run = await self.test(iteration, target=params.target)
            if run is not None:
                self.latest = run
                self.findings.append(prompts.Finding(iteration, describe(step), run.evidence(2000)))
                return ToolResult(ok=run.ok, output=run.evidence(RUN_RESULT_CHARS))
        result = await registry.execute(step, self.tools)
        if isinstance(params, FileParams) and editing and not result.ok:
            # The supervisor's own edit did not apply: a worker gets the instruction, the proposal and why.
            why = f"{step.description or task.request}\n\nA first attempt could not be applied: {result.output}"
            self._trace(iteration, "tool", step, result)
            return (await self.worker_edit(params, why, task, iteration)).result
        if result.data.get("error") == "PathRefused":
            self._refused.append(_first_line(result.output))
        if isinstance(params, FileParams) and params.action == "read" and result.ok:
            self._seen_paths.append(params.path)
        self._note_paths(result)
        self.observations.append((describe(step), result.output[:4000]))
        if not editing:
            self.findings.append(prompts.Finding(iteration, describe(step), result.output))
        self._trace(iteration, "tool", step, result)
        return result

    def _trace(self, iteration: int, actor: str, step: Step, result: ToolResult) -> None:
        self.trajectory.append(Entry(iteration, actor, describe(step), result.ok, _first_line(result.output)))

    async def _edit_without_plan(self, task: Task, iteration: int) -> None:
        """Nothing was edited (typical of a fallback plan): a worker edits the likeliest file, the code the
        failure's innermost frame is in."""
        target = await asyncio.to_thread(self._likeliest_file, task)
        if target is None:
            self.trajectory.append(Entry(iteration, "worker", "no file to edit was found", False))
            return
        self.guard.check("a worker edit")
        self.guard.count_step()
        self._edits_tried += 1
        await self.worker_edit(FileParams(action="edit", path=target), task.request, task, iteration)

    async def worker_edit(self, params: FileParams, instruction: str, task: Task, iteration: int) -> EditOutcome:
        path = params.path
        self.emit("worker", f"worker {self.worker} edits {path}", path=path)
        try:
            real = resolve_in_checkout(self.tools.root, path, for_write=True, policy=self.tools.policy)
            # Never `read_text`: a FIFO swapped in by code under test would block the worker for good.
            data = read_regular(real, MAX_EDIT_FILE_BYTES) if os.path.lexists(real) else b""
            content = data.decode("utf-8", "replace")
        except (PathRefused, OSError) as exc:
            text = exc.message if isinstance(exc, EquitrError) else f"`{path}` cannot be read: {exc.strerror or exc}."
            self._edits_failed += 1
            self.trajectory.append(Entry(iteration, "worker", f"edit {path}", False, text))
            return EditOutcome(ToolResult(ok=False, output=text))
        failing = self.latest if self.latest is not None and not self.latest.ok else None
        failure = failing.evidence(WORKER_FAILURE_CHARS) if failing is not None else ""
        # A review decided by the rules ("no change was made") adds nothing the file and failure do not say.
        key = _digest(path, instruction, content, failure, self.feedback if self._feedback_from_model else "")
        if key in self._asked:  # the same question gets the same answer: never pay for it twice
            text = "the same edit was asked for already (same file, instruction and failure); not asked again"
            self.trajectory.append(Entry(iteration, "worker", f"edit {path}", False, text))
            return EditOutcome(ToolResult(ok=False, output=text), skipped=True)
        self._asked.add(key)
        shown = view(content, lines=self._lines_in(path, failing, params), names=_names(content, instruction, task))
        fmt = self.fmt if shown.whole else FORMATS["search-replace"]  # a whole file cannot be rewritten from a part
        messages = prompts.edit_messages(
            task=task.request,
            instruction=instruction,
            path=path,
            content=shown.text,
            fmt=fmt,
            failure=failure,
            feedback=self.feedback,
            whole=shown.whole,
        )
        outcome = EditOutcome(ToolResult(ok=False, output="no attempt"))
        for attempt in range(MAX_REASKS + 1):
            reply = await self.calls.ask("worker", messages, purpose=f"edit {path}")
            text = reply.content or reply.thinking
            why = prompts.no_change(text)
            if why is not None:
                outcome = EditOutcome(ToolResult(ok=True, output=f"no change needed: {why}"), no_change=why)
                break
            try:
                if reply.truncated:
                    raise EditFormatError("Your answer was cut off at the token limit; send fewer or smaller blocks.")
                edits = [Edit(strip_gutter(e.search), strip_gutter(e.replace)) for e in fmt.parse(text)]
                outcome = EditOutcome(await self._apply(path, content, edits))
            except EditFormatError as exc:
                outcome = EditOutcome(ToolResult(ok=False, output=exc.message))
                salvaged = salvage.definitions(content, text) if not reply.truncated else []
                if salvaged:  # whole definitions in a code block instead of the format: used, and counted
                    outcome = EditOutcome(await self._apply(path, content, salvaged))
                    if outcome.result.ok:
                        self.ledger.record_repairs(["edit_salvaged"], fallback=False)
            if outcome.result.ok or attempt == MAX_REASKS:
                break
            self.ledger.reasks += 1
            messages = prompts.retry_messages(messages, text, outcome.result.output)
        detail = _first_line(outcome.result.output)
        if not outcome.result.ok:
            self._edits_failed += 1
            detail = f"not applied ({attempt + 1} answers): {detail}"
        self.trajectory.append(Entry(iteration, "worker", f"edit {path}", outcome.result.ok, detail))
        self.findings.append(prompts.Finding(iteration, f"worker edit of {path}", detail))
        return outcome

    def _lines_in(self, path: str, failing: TestRun | None, params: FileParams) -> list[int]:
        """The lines of `path` the failure's frames name (innermost first), and those the step names."""
        lines: list[int] = []
        if failing is not None:
            root = str(self.tools.root.resolve())
            lines += [f.line for f in evidence.innermost(failing.output, root, [path], skip_tests=False)]
        lines += [n for n in (params.start_line, params.end_line) if n]
        return lines

    async def _apply(self, path: str, content: str, edits: list[Edit]) -> ToolResult:
        """All of a reply's edits, or none: they are applied to the text in memory, then written once."""
        new = content
        try:
            for edit in edits:
                new = edit.replace if not edit.search else apply_edit(new, edit.search, edit.replace, shown=path)
        except ToolError as exc:
            return ToolResult(ok=False, output=exc.message)
        if new == content:
            return ToolResult(ok=False, output="Your blocks change nothing in the file.")
        step = Step(step=1, tool="file", parameters=FileParams(action="write", path=path, content=new))
        try:
            result = await registry.execute(step, self.tools)
        except (ToolError, PathRefused) as exc:
            return ToolResult(ok=False, output=exc.message)
        if not result.ok:
            return result
        return ToolResult(ok=True, output=f"Edited {path} ({len(edits)} block{'s' if len(edits) != 1 else ''}).")

    # -- test and review ---------------------------------------------------------------------------

    async def test(self, iteration: int, *, target: str | None = None) -> TestRun | None:
        if not self.tools.test_command.strip():
            return None
        self.emit("testing", f"running `{self.tools.test_command}`")
        result = await registry.execute(Step(step=1, tool="run", parameters=RunParams(target=target)), self.tools)
        code = result.data.get("exit_code")
        summary = testcmd.summarize(result.output)
        if result.data.get("setup_failed"):
            summary = f"not run: the setup command failed ({result.data['setup_failed']})"[:200]
        run = TestRun(ok=result.ok, exit_code=code, summary=summary, output=result.output)
        self.trajectory.append(Entry(iteration, "tool", f"tests: {run.summary}", run.ok))
        return run

    async def review(self, task: Task, result: AgentResult, iteration: int) -> prompts.Review:
        last = iteration == self.limits.max_iterations
        tests = result.tests_after
        if not result.changed:  # nothing to judge: the rules say why, no call needed
            review = _enforce(None, changed=False, tests=tests, last=last)
        else:
            messages = prompts.review_messages(
                task=task.request,
                diff=result.diff[-6000:],
                tests=(tests.evidence(REVIEW_TESTS_CHARS) if tests else ""),
                iteration=iteration,
                last=last,
            )
            with timed("review"):
                reply = await self.calls.ask("supervisor", messages, purpose="review", schema=prompts.REVIEW_SCHEMA)
            parsed = None if reply.truncated else prompts.parse_review(reply.content or reply.thinking)
            if parsed is None:
                self.ledger.record_repairs(["review_by_rules"], fallback=False)
            review = _enforce(parsed, changed=True, tests=tests, last=last)
        self.trajectory.append(Entry(iteration, "supervisor", f"review: {review.decision}", True, review.reason))
        self.emit("review", f"review: {review.decision} — {review.reason}", decision=review.decision)
        return review

    # -- helpers -----------------------------------------------------------------------------------

    def emit(self, kind: str, message: str, **data: Any) -> None:
        self.on_event(Event(kind, message, data))

    def _head(self) -> str:
        return git_in(self.tools.root, ["rev-parse", "HEAD"]).stdout.strip()

    def diff(self) -> str:
        """Stage what the job's tools wrote and show it: the staged state is what gets reviewed and, if
        accepted, committed; anything the tests change afterwards is not part of it."""
        stage(self.tools.root, self.tools.edited, policy=self.tools.policy)
        return git_in(self.tools.root, ["diff", "--cached", self._base]).stdout

    def _note_paths(self, result: ToolResult) -> None:
        for match in re.finditer(r"^([\w./-]+\.\w+):\d+", result.output, re.MULTILINE):
            self._seen_paths.append(match.group(1))

    def _likeliest_file(self, task: Task) -> str | None:
        """The innermost project frame of the failure (the code that raised, not its caller), then the
        file the ranked map puts first, then files the plan read or found, and only last a failing test."""
        index = repomap.scan(self.tools.root)
        failing = self.latest if self.latest is not None and not self.latest.ok else None
        failure = failing.evidence(PLAN_FAILURE_CHARS) if failing is not None else ""
        focus = self.focus(failing, index)
        own = [p for p in focus if not evidence.is_test_path(p)]
        ranked = repomap.rank(index, request=task.request, failure=failure, focus=focus)
        top = [p for p in ranked[:3] if p in index.sources and not evidence.is_test_path(p)]
        seen = [p.removeprefix("./") for p in self._seen_paths if not evidence.is_test_path(p)]
        tests = [p for p in focus if evidence.is_test_path(p)]
        files = set(index.files)
        return next((p for p in [*own, *top, *seen, *tests] if p in files), None)


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
    return SPECS[step.tool].mutates(step.parameters)


def _incomplete(params: FileParams) -> bool:
    if params.action == "write":
        return params.content is None
    return params.search is None or params.replace is None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _names(content: str, instruction: str, task: Task) -> list[str]:
    """Names the instruction or the issue mentions that this file defines: where a long file is shown."""
    defined = {d.name for d in repomap.parse_source("", content).defs}
    words = re.findall(r"[A-Za-z_]\w{2,}", f"{instruction}\n{task.request}")
    return [w for w in dict.fromkeys(words) if w in defined][:6]


_TIMING = re.compile(r"\d+(?:\.\d+)? ?s\b")


def _digest(*parts: str) -> str:
    """What makes two requests the same, whatever the test runs' durations were."""
    text = "\0".join(_TIMING.sub("T", part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()

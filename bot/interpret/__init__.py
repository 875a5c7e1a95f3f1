"""The interpretation layer: a small model's messy reply in, a validated, dependency-valid plan out.

    interpret(reply, request=...) → Interpretation(steps, repairs, fallback, errors, truncated)

Pure (no I/O) and total: it never raises. The stages, each in its own module:

    think       strip <think>/<thinking>/<reasoning>; the thinking is searched too when the answer has no plan
    candidates  native tool calls, <tool_call> tags, fences, XML calls, Python calls, JSON in prose, whole text
    repair      strict JSON, else json-repair; with finish_reason == "length" only objects closed in the text
    validate    tool and parameter aliases, coercion, enum correction, the tools' pydantic models (their SPECs)
    graph       duplicate numbers, unknown/self dependencies and cycles repaired
    relevance   a plan that ignores the request is completed (git, files, tests) or replaced
    fallback    the keyword planner, when nothing valid was recovered

The agent loop re-asks the model with `reask_error(interp)` while `needs_reask(interp)`, at most
`MAX_REASKS` times, then runs `interp.steps` (the fallback plan when `interp.fallback`).
"""

from __future__ import annotations

from collections.abc import Iterator

from equitr.interpret.candidates import Candidate, from_text, native
from equitr.interpret.fallback import fallback_plan
from equitr.interpret.graph import build_graph
from equitr.interpret.prompt import PLAN_JSON_SCHEMA, RESPONSE_FORMAT, plan_messages, reask_messages
from equitr.interpret.relevance import Evidence
from equitr.interpret.relevance import check as check_relevance
from equitr.interpret.result import REPAIR_KINDS, Interpretation, Repair, step_json
from equitr.interpret.think import split_thinking
from equitr.interpret.validate import CheckedPlan, check_plan
from equitr.models.types import Reply

__all__ = [
    "MAX_REASKS",
    "PLAN_JSON_SCHEMA",
    "REPAIR_KINDS",
    "RESPONSE_FORMAT",
    "Evidence",
    "Interpretation",
    "Repair",
    "fallback_plan",
    "interpret",
    "needs_reask",
    "plan_messages",
    "reask_error",
    "reask_messages",
    "step_json",
]

MAX_REASKS = 2

Note = tuple[str, str]


def interpret(
    reply: Reply | str, *, request: str, model: str = "", evidence: Evidence | None = None
) -> Interpretation:
    """The validated plan in `reply` for `request`. Never raises.

    `evidence` (the test failure, the repository's files, what the traceback and the ranked map point to)
    lets the relevance check tell a plan that follows the evidence from one that ignores it.
    """
    truncated = isinstance(reply, Reply) and reply.truncated
    ev = evidence or Evidence()
    try:
        return _interpret(reply, request=request, model=model, evidence=ev)
    except Exception as exc:  # the contract is totality: a bug here must cost a re-ask, not the job
        name = model or (reply.model if isinstance(reply, Reply) else "")
        errors = [f"the reply could not be read ({type(exc).__name__})"]
        return _fallback(request, name, [], errors, truncated, ev)


def needs_reask(interp: Interpretation) -> bool:
    """Whether asking the model again, with `reask_error(interp)`, can give a better plan."""
    return interp.fallback or bool(interp.errors)


def reask_error(interp: Interpretation) -> str:
    """The errors of `interp` as one message for `reask_messages`."""
    if interp.errors:
        return "\n".join(f"- {e}" for e in interp.errors[:12])
    return "no usable plan was found in your reply" if interp.fallback else ""


def _sources(reply: Reply | str) -> Iterator[tuple[Candidate, Note | None]]:
    """Candidates in priority order, each with the note saying it came from the thinking text."""
    if isinstance(reply, Reply):
        content, thinking, truncated = reply.content or "", reply.thinking or "", reply.truncated
        found = native(reply.tool_calls, truncated=truncated) if reply.tool_calls else None
        if found is not None:
            yield found, None
    else:
        content, thinking, truncated = str(reply), "", False
    split = split_thinking(content)
    for candidate in from_text(split.answer, truncated=truncated):
        yield candidate, None
    reasoning = "\n".join(t for t in (split.thinking, thinking.strip()) if t)
    why = "content was empty; " if not split.answer else ""
    for candidate in from_text(reasoning, truncated=truncated):
        yield candidate, ("think_stripped", f"{why}plan read from the model's thinking")


def _interpret(
    reply: Reply | str, *, request: str, model: str, evidence: Evidence | None = None
) -> Interpretation:
    evidence = evidence or Evidence()
    if isinstance(reply, Reply):
        model = model or reply.model
        truncated = reply.truncated
        tagged = split_thinking(reply.content or "").stripped
    else:
        truncated = False
        tagged = split_thinking(str(reply)).stripped
    notes: list[Note] = [("think_stripped", "removed thinking block(s)")] if tagged else []

    chosen: tuple[Candidate, CheckedPlan, Note | None] | None = None
    failed: tuple[Candidate, CheckedPlan] | None = None
    for candidate, origin in _sources(reply):
        plan = check_plan(candidate.steps)
        if plan.steps:
            chosen = (candidate, plan, origin)
            break
        if failed is None:
            failed = (candidate, plan)

    if chosen is None:
        errors = list(failed[1].errors) if failed else []
        if failed:
            notes += [*failed[0].found, *failed[1].notes]
        if not errors:
            errors = ['no plan found in the reply; answer with only a JSON object {"execution_steps": [...]}']
        if truncated and not any("cut off" in e for e in errors):
            errors.append("your reply was cut off by the token limit; send a shorter plan")
        return _fallback(request, model, notes, errors, truncated, evidence)

    candidate, plan, origin = chosen
    notes += [*candidate.found, *plan.notes, *([origin] if origin else [])]
    graph = build_graph(plan.steps)
    notes += graph.repairs
    relevant = check_relevance(list(graph.steps), request, evidence)
    notes += relevant.notes
    final = build_graph(relevant.steps)  # completions only add valid edges; this keeps that provable
    notes += final.repairs
    if relevant.replaced:
        notes.append(("fallback", "keyword plan from the request"))
    return Interpretation(
        steps=tuple(final.order()),
        repairs=_repairs(notes, model),
        fallback=relevant.replaced,
        errors=tuple(plan.errors + relevant.errors),
        truncated=truncated,
    )


def _repairs(notes: list[Note], model: str) -> tuple[Repair, ...]:
    return tuple(Repair(kind, detail, model) for kind, detail in notes if kind)


def _fallback(
    request: str, model: str, notes: list[Note], errors: list[str], truncated: bool, evidence: Evidence
) -> Interpretation:
    steps = fallback_plan(request, pointed=evidence.pointed)
    repairs = (
        *_repairs(notes, model),
        Repair("fallback", f"keyword plan from the request ({len(steps)} steps)", model),
    )
    return Interpretation(steps=steps, repairs=repairs, fallback=True, errors=tuple(errors), truncated=truncated)

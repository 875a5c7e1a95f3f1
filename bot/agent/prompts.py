"""Prompts of the supervisor's review and of the workers' edits. Pure: text in, messages out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from equitr.agent.edits import EditFormat
from equitr.interpret import repair
from equitr.interpret.think import split_thinking
from equitr.models.types import Message

Decision = Literal["accept", "revise", "stop"]

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": ["accept", "revise", "stop"]},
        "reason": {"type": "string"},
    },
    "required": ["decision", "reason"],
    "additionalProperties": False,
}


def review_messages(*, task: str, diff: str, tests: str, iteration: int, last: bool) -> list[Message]:
    system = (
        "You are the supervisor of a coding agent. Judge whether the change below does what the task asks "
        "and whether the tests pass. Answer with JSON only: "
        '{"decision": "accept" | "revise" | "stop", "reason": "one sentence"}. '
        "accept: the task is done. revise: more work is needed (say what, precisely: the next attempt is "
        "told your reason). stop: the task cannot be done."
    )
    user = (
        f"Task:\n{task}\n\nIteration {iteration}{' (the last one)' if last else ''}.\n\n"
        f"Diff:\n{diff or '(no change yet)'}\n\n"
        f"Test run (its output, stdout and stderr):\n{tests or '(no tests were run)'}"
    )
    return [Message("system", system), Message("user", user)]


# A review is one short JSON object; a reply longer than this is not one, and is not read further.
MAX_REVIEW_CHARS = 16_000


@dataclass(frozen=True, slots=True)
class Finding:
    """What one step of an earlier round found, for the next plan."""

    iteration: int
    what: str  # the step, described
    output: str


def plan_request(
    *,
    request: str,
    failure: str = "",
    failure_is_new: bool = False,
    code: str = "",
    findings: Sequence[Finding] = (),
    diff: str = "",
    feedback: str = "",
    refused: Sequence[str] = (),
    budget_chars: int = 12_000,
) -> str:
    """The supervisor's user message for planning: the task first, then the evidence, most telling first,
    each part within its share of `budget_chars`."""
    parts = [request.strip()]
    if failure:
        title = "The tests fail after the last change" if failure_is_new else "The tests fail"
        parts.append(f"## {title} (their output)\n```text\n{failure}\n```")
    if code:
        parts.append(f"## The code where the failure happens\n{code}")
    if diff:
        parts.append(f"## The change made so far (it stays unless you change it)\n```diff\n{_cut(diff, 3000)}\n```")
    if feedback:
        parts.append(f"## The review of the last attempt\n{feedback}")
    if refused:
        listed = "\n".join(f"- {text}" for text in refused[-10:])
        parts.append(f"## Writes that were refused (do not plan them again)\n{listed}")
    if findings:
        room = max(1500, budget_chars - sum(len(p) for p in parts))
        parts.append("## What the steps so far found\n" + _findings(findings, room))
    return "\n\n".join(parts)


def _findings(findings: Sequence[Finding], budget: int) -> str:
    """Newest first, each cut to a fair share of the budget."""
    chunks: list[str] = []
    used = 0
    share = max(800, budget // max(1, len(findings)))
    for f in reversed(findings):
        chunk = f"### {f.what}\n{_cut(f.output, share)}"
        if used + len(chunk) > budget:
            chunks.append(f"(… {len(findings) - len(chunks)} earlier findings left out)")
            break
        chunks.append(chunk)
        used += len(chunk)
    return "\n\n".join(chunks)


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"\n[… {len(text) - limit} more characters]"


@dataclass(frozen=True, slots=True)
class Review:
    decision: Decision
    reason: str
    parsed: bool  # False when the reply was unreadable and the decision came from the rules


def parse_review(text: str) -> Review | None:
    """The decision in a reply, or None when there is none to be found. Linear in the reply (at most
    `MAX_REVIEW_CHARS` of it are read): thinking is split off in one pass, and JSON is repaired only when
    it is short and shallow enough for json-repair."""
    split = split_thinking((text or "")[:MAX_REVIEW_CHARS])
    cleaned = split.answer or split.thinking
    parsed = repair.parse(cleaned)
    data = parsed[0] if parsed is not None else None
    if isinstance(data, dict):
        decision = str(data.get("decision", "")).strip().lower()
        if decision in ("accept", "revise", "stop"):
            return Review(decision, str(data.get("reason", ""))[:500], True)  # type: ignore[arg-type]
    match = re.search(r"\b(accept|revise|stop)\b", cleaned, re.IGNORECASE)
    if match:
        return Review(match.group(1).lower(), cleaned.strip()[:300], True)  # type: ignore[arg-type]
    return None


NO_CHANGE = "NO CHANGE NEEDED"
_NO_CHANGE = re.compile(
    r"^\W*(?:no\s+changes?\s+(?:is\s+|are\s+)?(?:needed|necessary|required)|nothing\s+(?:needs\s+)?to\s+change)\b"
    r"[\s:.,;—-]*(?P<why>.*)",
    re.IGNORECASE | re.DOTALL,
)


def no_change(text: str) -> str | None:
    """The reason when a worker's reply says the file needs no change (None when it says something else)."""
    # Only the answer: "no change needed" inside the reasoning is a thought, not the worker's conclusion.
    cleaned = split_thinking(text or "").answer.strip("`*").strip()
    match = _NO_CHANGE.match(cleaned)
    if match is None or "<<<<<<<" in cleaned:
        return None
    return " ".join(match.group("why").split())[:300] or "the worker found nothing to change"


def edit_messages(
    *,
    task: str,
    instruction: str,
    path: str,
    content: str,
    fmt: EditFormat,
    failure: str = "",
    feedback: str = "",
    whole: bool = True,
) -> list[Message]:
    """The worker's prompt: the instruction, the issue, the failure, the last review, and the file (numbered,
    or the regions of a long file that matter). Retries are `retry_messages` on top of it."""
    system = (
        "You are a careful programmer. You change one file to carry out an instruction. "
        + fmt.instructions
        + "\nThe file is shown with line numbers (`  12 | code`); the numbers are not part of the file: never "
        "copy them. If this file needs no change for the instruction, reply with the line "
        f"`{NO_CHANGE}` and one sentence saying why."
    )
    parts = [f"Instruction: {instruction or task}"]
    if instruction and instruction.strip() != task.strip():
        parts.append(f"The issue:\n{task}")
    if failure:
        parts.append(f"The tests fail now (their output):\n```text\n{failure}\n```")
    if feedback:
        parts.append(f"The review of the previous attempt: {feedback}")
    shown = "" if whole else " (a long file: the parts that matter are shown)"
    parts.append(f"File `{path}`{shown}:\n```\n{content}\n```")
    return [Message("system", system), Message("user", "\n\n".join(parts))]


def retry_messages(messages: list[Message], reply: str, error: str) -> list[Message]:
    """The conversation so far, the worker's answer as its own turn, then what was wrong with it: a chat
    that alternates user and assistant, as strict chat templates require."""
    echoed = reply if len(reply) <= 4000 else reply[:4000] + "\n…(cut)"
    correction = f"Your answer could not be applied: {error}\nAnswer again, in the same format."
    return [*messages, Message("assistant", echoed or "(empty answer)"), Message("user", correction)]


def answer_messages(*, question: str, observations: list[tuple[str, str]], budget_chars: int = 12_000) -> list[Message]:
    system = (
        "You answer questions about a code repository, using only what the tools found below. Be concise and "
        "concrete; name files and lines. If the findings do not answer the question, say what is missing."
    )
    parts, used = [], 0
    for what, output in observations:
        chunk = f"### {what}\n{output}"
        if used + len(chunk) > budget_chars:
            break
        parts.append(chunk)
        used += len(chunk)
    user = f"Question: {question}\n\nFindings:\n" + ("\n\n".join(parts) or "(nothing was found)")
    return [Message("system", system), Message("user", user)]

"""Prompts of the supervisor's review and of the workers' edits. Pure: text in, messages out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bot.agent.edits import EditFormat
from bot.interpret import repair
from bot.interpret.think import split_thinking
from bot.models.types import Message

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
        "accept: the task is done. revise: more work is needed (say what). stop: the task cannot be done."
    )
    user = (
        f"Task:\n{task}\n\nIteration {iteration}{' (the last one)' if last else ''}.\n\n"
        f"Diff:\n{diff or '(no change yet)'}\n\nTest run:\n{tests or '(no tests were run)'}"
    )
    return [Message("system", system), Message("user", user)]


# A review is one short JSON object; a reply longer than this is not one, and is not read further.
MAX_REVIEW_CHARS = 16_000


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


def edit_messages(
    *, task: str, instruction: str, path: str, content: str, fmt: EditFormat, error: str = ""
) -> list[Message]:
    system = "You are a careful programmer. You change one file to carry out an instruction. " + fmt.instructions
    user = f"Task: {task}\nInstruction: {instruction or task}\n\nFile `{path}`:\n```\n{content}\n```"
    messages = [Message("system", system), Message("user", user)]
    if error:
        messages.append(Message("user", f"Your previous answer could not be applied: {error}\nTry again."))
    return messages


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

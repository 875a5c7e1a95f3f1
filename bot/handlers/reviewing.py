"""Review prompts and the validation of what a model proposes. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import json_repair

from equitr.handlers.diffmap import PatchLines
from equitr.interpret.think import split_thinking
from equitr.models.types import Message
from equitr.text.sanitize import sanitize

MAX_COMMENTS_PER_FILE = 5


@dataclass(frozen=True, slots=True)
class InlineComment:
    path: str
    line: int
    body: str

    def api(self) -> dict[str, Any]:
        """The comment for GitHub's review API: the model's text sanitised (its suggestion block kept exact)."""
        return {"path": self.path, "line": self.line, "side": "RIGHT", "body": sanitize(self.body)}


def summary_messages(*, title: str, body: str, files: list[str], diff: str) -> list[Message]:
    system = (
        "You review pull requests. Summarise what this pull request changes and the main risks, in at most "
        "six short bullet points. Plain Markdown, no preamble."
    )
    user = f"Title: {title}\n\nDescription:\n{body or '(none)'}\n\nFiles:\n" + "\n".join(files) + f"\n\nDiff:\n{diff}"
    return [Message("system", system), Message("user", user)]


def file_messages(*, path: str, numbered_patch: str, title: str) -> list[Message]:
    system = (
        "You review one file of a pull request. Point out real problems only: bugs, wrong logic, missing error "
        "handling, security issues. Reply with JSON only: "
        '{"comments": [{"line": <number from the left column>, "body": "what is wrong and why", '
        '"suggestion": "the corrected line(s), or empty"}]}. '
        'Reply {"comments": []} when the file is fine.'
    )
    user = f"Pull request: {title}\nFile: {path}\n\n{numbered_patch}"
    return [Message("system", system), Message("user", user)]


def parse_comments(text: str, *, path: str, valid: PatchLines) -> tuple[list[InlineComment], int]:
    """Comments a model proposed for `path`, keeping only those on lines of the diff. Returns (kept, dropped)."""
    split = split_thinking(text or "")
    try:
        data = json_repair.loads(split.answer or split.thinking)
    except Exception:
        return [], 0
    items = data.get("comments") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(items, list):
        return [], 0
    kept: list[InlineComment] = []
    dropped = 0
    for item in items:
        if not isinstance(item, dict):
            dropped += 1
            continue
        line = _line_number(item.get("line"))
        body = str(item.get("body") or "").strip()
        if line is None or not body or line not in valid.right or len(kept) >= MAX_COMMENTS_PER_FILE:
            dropped += 1
            continue
        suggestion = str(item.get("suggestion") or "").rstrip()
        if suggestion and line in valid.added and "```" not in suggestion:
            body += f"\n\n```suggestion\n{suggestion}\n```"
        kept.append(InlineComment(path, line, body[:4000]))
    return kept, dropped


def _line_number(value: object) -> int | None:
    """A line number as a model writes it (`12`, `"12"`, `12.0`); None for anything else. A float like
    `1e400` or `11.5`, or a boolean, names no line: truncating it would comment on a line the model never
    meant, and `int(inf)` raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None

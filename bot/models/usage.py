"""Token usage: the server's own counts when it gives them, otherwise an estimate marked as such."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from equitr.models.types import Message, Usage

# ~4 characters per token holds well enough for English and code across the tokenizers in use; the
# estimate exists so budgets still move when a server reports nothing, not for billing.
_CHARS_PER_TOKEN = 4.0
_PER_MESSAGE_OVERHEAD = 4  # role markers and separators in chat templates


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN) if text else 0


def estimate_prompt(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m.content) + _PER_MESSAGE_OVERHEAD for m in messages)


def usage_from(prompt: Any, completion: Any, *, messages: Sequence[Message], reply_text: str) -> Usage:
    """Usage from server counts; any missing count is estimated and the result is marked `estimated`."""
    p = prompt if isinstance(prompt, int) and prompt >= 0 else None
    c = completion if isinstance(completion, int) and completion >= 0 else None
    if p is not None and c is not None:
        return Usage(prompt_tokens=p, completion_tokens=c)
    return Usage(
        prompt_tokens=p if p is not None else estimate_prompt(messages),
        completion_tokens=c if c is not None else estimate_tokens(reply_text),
        estimated=True,
    )

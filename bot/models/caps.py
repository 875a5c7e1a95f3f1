"""How many tokens one reply of a model may have, by what the call is for.

A cap near what a call needs keeps a small model from rambling to the limit; a reasoning model (o-series,
gpt-5, gpt-oss, qwen3 with thinking, QwQ, DeepSeek-R1, Magistral …) spends part of its budget thinking before
it writes a word of the answer, so it gets room for that. A reply cut off at its cap is asked again once with
more room, up to `ceiling` (`equitr.agent.asker`). `limits.max_output_tokens` in `.equitr.toml` replaces all of
this with one number for every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Families that think before answering; matched on the model part of `provider/model`.
_REASONING = re.compile(
    r"(?:^|[/:._-])(?:o[1-9](?:-mini|-pro)?|gpt-5|gpt-oss|qwen3(?!.*(?:instruct|coder))|qwq|deepseek-r1|deepseek-reasoner|"
    r"r1-distill|magistral|phi-4-(?:mini-)?reasoning|.*thinking)",
    re.IGNORECASE,
)
Purpose = str  # plan, edit, review, answer, tool


@dataclass(frozen=True, slots=True)
class OutputCaps:
    plan: int
    edit: int
    review: int
    answer: int
    ceiling: int  # the most a second try after a cut-off reply may get
    reasoning: bool = False

    def cap(self, purpose: str) -> int:
        """The cap for a call by its purpose's first word (`edit foo.py` → edit); plans for the rest."""
        kind = purpose.split(" ", 1)[0]
        return {"edit": self.edit, "review": self.review, "answer": self.answer}.get(kind, self.plan)


def is_reasoning(model: str) -> bool:
    name = model.split("/", 1)[-1]
    return bool(_REASONING.search(name))


def output_caps(model: str, *, configured: int | None = None) -> OutputCaps:
    """The caps for `model` (`provider/model`); `configured` (the repository's `max_output_tokens`) wins."""
    reasoning = is_reasoning(model)
    if configured is not None:
        return OutputCaps(configured, configured, configured, configured, configured, reasoning)
    if reasoning:
        return OutputCaps(plan=4096, edit=8192, review=2048, answer=4096, ceiling=16_384, reasoning=True)
    if model.startswith("local/"):  # a small in-process model: every token costs real seconds on a CPU
        return OutputCaps(plan=1024, edit=768, review=256, answer=768, ceiling=1536)
    return OutputCaps(plan=1024, edit=2048, review=512, answer=1024, ceiling=4096)

"""An edit recovered from a worker reply that ignored the edit format: whole definitions in a code block.

Small models asked for SEARCH/REPLACE blocks often answer with the corrected function in a fenced block
instead. When each definition in such a block (`def`, `class`, `function` …) names one that exists in the
file, the file's definition is replaced by it, re-indented to where it lives. Anything else (imports, prose,
a definition the file does not have) is left alone. Pure; the loop applies the edits like any others and
counts the repair.
"""

from __future__ import annotations

import re

from equitr.agent.edits import Edit
from equitr.agent.view import definition_span

_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
_DEF = re.compile(r"^(?P<indent>\s*)(?:export\s+)?(?:async\s+)?(?:def|class|function|func|fn)\s+(?P<name>[A-Za-z_]\w*)")


def definitions(content: str, reply: str) -> list[Edit]:
    """Edits that swap the file's definitions for the ones in `reply`'s fenced blocks (none if any block's
    definition is not in the file, so a half-understood reply is never half applied)."""
    rows = content.splitlines()
    edits: list[Edit] = []
    for body in _FENCE.findall(reply):
        block = body.splitlines()
        heads = [(i, m) for i, line in enumerate(block) if (m := _DEF.match(line))]
        if not heads:
            continue
        top = min(len(m.group("indent")) for _, m in heads)
        for i, m in heads:
            if len(m.group("indent")) != top:
                continue  # a method inside a class of the block goes with its class
            name = m.group("name")
            own = definition_span(block[i:], name)
            where = definition_span(rows, name)
            if own is None or where is None:
                return []
            new = block[i : i + own[1]]
            old = rows[where[0] - 1 : where[1]]
            new = _reindent(new, _indent(old[0]), _indent(new[0]))
            if new != old:
                edits.append(Edit("\n".join(old), "\n".join(new)))
    return edits


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(lines: list[str], want: str, have: str) -> list[str]:
    if want == have:
        return lines
    return [want + line[len(have) :] if line.startswith(have) else line for line in lines]

"""Edit formats a worker model may answer in, each a small strategy with a pure parser.

A parse error carries a message written for the model: the loop reflects it back (a bounded number of
times) so the model can correct its own output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from equitr.errors import EditFormatError


@dataclass(frozen=True, slots=True)
class Edit:
    search: str
    replace: str


class EditFormat(Protocol):
    name: str
    instructions: str

    def parse(self, text: str) -> list[Edit]: ...


# The three marker lines of a block. Each match starts at a line start and reads one line, so finding them
# all is one linear pass over a reply, however hostile.
_MARKER = re.compile(
    r"^[ \t]*(?:(?P<start><{5,9} ?SEARCH[^\n]*\n)|(?P<divider>={5,9}[ \t]*\n)|(?P<end>>{5,9} ?REPLACE[^\n]*$))",
    re.MULTILINE,
)


def _blocks(text: str) -> list[Edit]:
    """The SEARCH/REPLACE blocks of `text`. Inside a block a marker of another kind is content (a SEARCH
    line in a search, a divider in a replacement); an unterminated block ends the scan, since no later
    block could be terminated either. Same blocks as the lazy DOTALL regex aider-style parsers use, in
    linear instead of quadratic time."""
    edits: list[Edit] = []
    state, search, begin = "outside", "", 0
    for m in _MARKER.finditer(text):
        if state == "outside" and m.group("start"):
            state, begin = "search", m.end()
        elif state == "search" and m.group("divider"):
            state, search, begin = "replace", text[begin : m.start()], m.end()
        elif state == "replace" and m.group("end"):
            edits.append(Edit(search, text[begin : m.start()]))
            state = "outside"
    return edits


class SearchReplace:
    """aider-style blocks: the exact current lines, then their replacement."""

    name = "search-replace"
    instructions = (
        "Reply with one or more blocks in exactly this form, and nothing else:\n"
        "<<<<<<< SEARCH\n(the exact current lines of the file, copied character for character)\n=======\n"
        "(the lines that replace them)\n>>>>>>> REPLACE"
    )

    def parse(self, text: str) -> list[Edit]:
        edits = _blocks(text)
        if not edits:
            if "SEARCH" in text and "REPLACE" not in text:
                raise EditFormatError("Your SEARCH/REPLACE block was cut off: it has no `>>>>>>> REPLACE` line.")
            raise EditFormatError("No SEARCH/REPLACE block found in your reply. " + self.instructions)
        for edit in edits:
            if not edit.search.strip():
                raise EditFormatError("A SEARCH section is empty; copy the exact lines to change into it.")
            if edit.search == edit.replace:
                raise EditFormatError("A block's SEARCH and REPLACE are identical, so it changes nothing.")
        return edits


_FENCE = re.compile(r"```[\w.+-]*\n(?P<body>.*?)```", re.DOTALL)


class WholeFile:
    """The complete new file in one fenced block (for small files and models that cannot do diffs)."""

    name = "whole-file"
    instructions = "Reply with the complete new content of the file in one ``` fenced block, and nothing else."

    def parse(self, text: str) -> list[Edit]:
        blocks = _FENCE.findall(text)
        if len(blocks) != 1:
            raise EditFormatError(f"Expected exactly one fenced block with the whole file, found {len(blocks)}.")
        return [Edit(search="", replace=blocks[0])]


FORMATS: dict[str, EditFormat] = {f.name: f for f in (SearchReplace(), WholeFile())}

"""The SEARCH/REPLACE parser reads blocks line by line in linear time, and finds exactly the blocks the lazy
DOTALL regex it replaced found (kept here as the oracle, on inputs small enough for it)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equitr.agent.edits import Edit, SearchReplace, _blocks
from equitr.errors import EditFormatError

ORACLE = re.compile(
    r"^[ \t]*<{5,9} ?SEARCH[^\n]*\n(?P<search>.*?)^[ \t]*={5,9}[ \t]*\n(?P<replace>.*?)^[ \t]*>{5,9} ?REPLACE[^\n]*$",
    re.MULTILINE | re.DOTALL,
)
PIECES = [
    "<<<<<<< SEARCH\n", "=======\n", ">>>>>>> REPLACE\n", ">>>>>>> REPLACE", "a = 1\n", "b", "  <<<<<<<< SEARCH x\n",
    "=====  \n", "\n", "<<<<<<<<<< SEARCH\n", ">>>>> REPLACE\r\n", "x ======= \n", "\t=======\n", "<<<<<<< SEARCH",
]  # fmt: skip


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
def test_same_blocks_as_the_regex(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert _blocks(text) == [Edit(m.group("search"), m.group("replace")) for m in ORACLE.finditer(text)]


def test_a_block_with_a_search_line_inside_its_search() -> None:
    text = "<<<<<<< SEARCH\nfoo\n<<<<<<< SEARCH\nbar\n=======\nbaz\n>>>>>>> REPLACE\n"
    assert SearchReplace().parse(text) == [Edit("foo\n<<<<<<< SEARCH\nbar\n", "baz\n")]


def test_unterminated_blocks_are_reported_not_searched_forever() -> None:
    with pytest.raises(EditFormatError, match="cut off"):
        SearchReplace().parse("<<<<<<< SEARCH\n" * 16_000)

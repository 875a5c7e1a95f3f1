"""The edit formats a worker answers in (`agent/edits`): what each parser reads out of a reply, and the
message it hands back to the model when the reply is not usable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from equitr.agent.edits import FORMATS, Edit, EditFormatError, SearchReplace, WholeFile

SR = SearchReplace()
WF = WholeFile()


def block(search: str, replace: str, *, start: str = "<<<<<<< SEARCH", end: str = ">>>>>>> REPLACE") -> str:
    return f"{start}\n{search}=======\n{replace}{end}"


def test_one_block_keeps_every_character_of_both_sides() -> None:
    reply = block("    return a  -  b\n\tx = 1\n", "    return a - b\n")
    assert SR.parse(reply) == [Edit("    return a  -  b\n\tx = 1\n", "    return a - b\n")]


def test_several_blocks_with_prose_around_them_in_order() -> None:
    reply = (
        "I will fix both.\n\n```python\n"
        + block("a = 1\n", "a = 2\n")
        + "\n```\nand then\n"
        + block("b = 1\n", "")
        + "\nDone."
    )
    assert SR.parse(reply) == [Edit("a = 1\n", "a = 2\n"), Edit("b = 1\n", "")]


def test_marker_lengths_and_indentation_that_models_write() -> None:
    reply = "  <<<<<<<< SEARCH main.py\nx\n  =========  \ny\n>>>>> REPLACE"
    assert SR.parse(reply) == [Edit("x\n", "y\n")]


def test_a_divider_inside_the_replacement_is_content() -> None:
    reply = block("x\n", "a\n=======\nb\n")
    assert SR.parse(reply) == [Edit("x\n", "a\n=======\nb\n")]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("<<<<<<< SEARCH\nx\n=======\ny\n", "was cut off: it has no `>>>>>>> REPLACE` line"),
        ("Here is the fixed file:\nx = 2\n", "No SEARCH/REPLACE block found in your reply. Reply with one or more"),
        (block("  \n", "x\n"), "A SEARCH section is empty"),
        (block("x\n", "x\n"), "SEARCH and REPLACE are identical"),
        (block("a\n", "b\n") + "\n" + block("c\n", "c\n"), "SEARCH and REPLACE are identical"),  # any block
    ],
)
def test_unusable_replies_explain_themselves_to_the_model(reply: str, message: str) -> None:
    with pytest.raises(EditFormatError) as caught:
        SR.parse(reply)
    assert message in caught.value.message


def test_the_instructions_show_a_block_the_parser_reads() -> None:
    example = SR.instructions.split("nothing else:\n", 1)[1]
    assert SR.parse(example) == [
        Edit(
            "(the exact current lines of the file, copied character for character)\n", "(the lines that replace them)\n"
        )
    ]


@given(
    search=st.text(st.characters(blacklist_characters="<=>\r"), min_size=1).filter(str.strip),
    replace=st.text(st.characters(blacklist_characters="<=>\r")),
)
def test_any_block_round_trips(search: str, replace: str) -> None:
    """Whatever lines a model puts between the markers come back exactly (each side ends with its newline)."""
    s, r = search + "\n", (replace + "\n") if replace else ""
    if s == r:
        return
    assert SR.parse(block(s, r)) == [Edit(s, r)]


def test_whole_file_reads_the_one_fenced_block() -> None:
    reply = "Here it is:\n```python\ndef f():\n    return 1\n```\nThat's all."
    assert WF.parse(reply) == [Edit(search="", replace="def f():\n    return 1\n")]


@pytest.mark.parametrize(("reply", "found"), [("def f(): pass", 0), ("```\na\n```\n```py\nb\n```", 2)])
def test_whole_file_needs_exactly_one_block(reply: str, found: int) -> None:
    with pytest.raises(EditFormatError, match=f"found {found}"):
        WF.parse(reply)


def test_the_formats_are_registered_by_name() -> None:
    assert sorted(FORMATS) == ["search-replace", "whole-file"]
    assert isinstance(FORMATS["search-replace"], SearchReplace)
    assert isinstance(FORMATS["whole-file"], WholeFile)

"""What equitr reads out of a model's review replies: inline comments for a pull request
(`work/reviewing.parse_comments`) and the supervisor's accept/revise/stop (`agent/prompts.parse_review`)."""

from __future__ import annotations

import json

import pytest

from equitr.agent.prompts import MAX_REVIEW_CHARS, Review, no_change, parse_review
from equitr.handlers.diffmap import PatchLines, lines
from equitr.handlers.reviewing import MAX_COMMENTS_PER_FILE, InlineComment, parse_comments

# A GitHub-style patch: new lines 10..14, of which 11 and 12 were added.
PATCH = "\n".join(
    [
        "@@ -10,4 +10,5 @@ def total(items):",
        "     s = 0",
        "-    for i in range(len(items) - 1):",
        "+    for i in range(len(items)):",
        "+        s += items[i]",
        "     return s",
        " ",
    ]
)
VALID = lines(PATCH)


def reply(*comments: dict[str, object]) -> str:
    return json.dumps({"comments": list(comments)})


def test_the_patch_is_what_the_tests_think() -> None:
    assert lines(PATCH) == PatchLines(frozenset({10, 11, 12, 13, 14}), frozenset({11, 12}))


def test_comments_on_lines_of_the_diff_are_kept_in_order() -> None:
    text = reply({"line": 11, "body": "off by one fixed?"}, {"line": 13, "body": " returns early "})
    kept, dropped = parse_comments(text, path="calc.py", valid=VALID)
    assert kept == [InlineComment("calc.py", 11, "off by one fixed?"), InlineComment("calc.py", 13, "returns early")]
    assert dropped == 0


@pytest.mark.parametrize(
    "item",
    [
        {"line": 3, "body": "outside the diff"},
        {"line": 11, "body": "   "},
        {"line": "eleven", "body": "not a number"},
        {"body": "no line"},
        "a bare string",
        {"line": 11.5, "body": "between lines"},
        {"line": 1e400, "body": "infinitely far"},
        {"line": -11, "body": "negative"},
    ],
)
def test_comments_that_cannot_be_placed_are_counted_as_dropped(item: object) -> None:
    text = json.dumps({"comments": [item, {"line": 12, "body": "kept"}]})
    kept, dropped = parse_comments(text, path="calc.py", valid=VALID)
    assert kept == [InlineComment("calc.py", 12, "kept")]
    assert dropped == 1


def test_a_boolean_is_not_line_one() -> None:
    valid = PatchLines(frozenset({1, 2}), frozenset({1, 2}))
    kept, dropped = parse_comments(reply({"line": True, "body": "b"}, {"line": 1, "body": "c"}), path="p", valid=valid)
    assert kept == [InlineComment("p", 1, "c")]
    assert dropped == 1


def test_a_line_number_written_as_text_is_read() -> None:
    kept, _ = parse_comments(reply({"line": "12", "body": "b"}, {"line": 13.0, "body": "c"}), path="p", valid=VALID)
    assert [c.line for c in kept] == [12, 13]


def test_at_most_five_comments_per_file() -> None:
    items = [{"line": 10 + n % 5, "body": f"c{n}"} for n in range(8)]
    kept, dropped = parse_comments(reply(*items), path="p", valid=VALID)
    assert [c.body for c in kept] == [f"c{n}" for n in range(MAX_COMMENTS_PER_FILE)]
    assert dropped == 8 - MAX_COMMENTS_PER_FILE


def test_a_suggestion_is_attached_only_to_an_added_line() -> None:
    text = reply(
        {"line": 12, "body": "use +=", "suggestion": "        s = s + items[i]  \n"},
        {"line": 13, "body": "context line", "suggestion": "    return 0"},
        {"line": 11, "body": "fence inside", "suggestion": "```\nx\n```"},
    )
    kept, _ = parse_comments(text, path="p", valid=VALID)
    assert kept[0].body == "use +=\n\n```suggestion\n        s = s + items[i]\n```"
    assert kept[1].body == "context line"  # GitHub can only apply a suggestion to a line the diff added
    assert kept[2].body == "fence inside"  # a fence in the suggestion would end the block early


def test_thinking_is_ignored_and_broken_json_repaired() -> None:
    text = '<think>line 3 looks odd {"comments": [{"line": 3}]}</think>\n{"comments": [{"line": 11, "body": "x",}'
    kept, dropped = parse_comments(text, path="p", valid=VALID)
    assert kept == [InlineComment("p", 11, "x")]
    assert dropped == 0


def test_comments_written_only_in_the_thinking_are_read_from_it() -> None:
    # Like `parse_review`: the thinking is read when the answer holds nothing (a model that never leaves it).
    text = '<think>{"comments": [{"line": 12, "body": "s is never reset"}]}</think>'
    kept, _ = parse_comments(text, path="p", valid=VALID)
    assert kept == [InlineComment("p", 12, "s is never reset")]


def test_a_bare_list_is_accepted() -> None:
    kept, _ = parse_comments(json.dumps([{"line": 14, "body": "b"}]), path="p", valid=VALID)
    assert kept == [InlineComment("p", 14, "b")]


@pytest.mark.parametrize("text", ["", "Looks good to me.", '{"comments": "none"}', "42", '{"comments": []}'])
def test_no_comments(text: str) -> None:
    assert parse_comments(text, path="p", valid=VALID) == ([], 0)


def test_a_long_body_is_capped() -> None:
    kept, _ = parse_comments(reply({"line": 11, "body": "x" * 10_000}), path="p", valid=VALID)
    assert len(kept[0].body) == 4000


def test_the_api_form_is_sanitised_but_keeps_the_suggestion() -> None:
    body = "see ![x](https://evil.example/p.png)\n\n```suggestion\n<img src=x>\n```"
    api = InlineComment("calc.py", 12, body).api()
    assert api["path"] == "calc.py" and api["line"] == 12 and api["side"] == "RIGHT"
    assert "evil.example/p.png" not in api["body"].split("```suggestion")[0]
    assert api["body"].endswith("```suggestion\n<img src=x>\n```")


# --- the supervisor's review --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"decision": "accept", "reason": "tests pass"}', Review("accept", "tests pass", True)),
        ('{"decision": " REVISE ", "reason": "also handle []"}', Review("revise", "also handle []", True)),
        (
            '<think>maybe stop?</think>{"decision": "stop", "reason": "no such file"}',
            Review("stop", "no such file", True),
        ),
        ('{"decision": "accept", "reason": "ok",}', Review("accept", "ok", True)),  # repaired
        ("I accept this change.", Review("accept", "I accept this change.", True)),
        ('<think>{"decision": "revise", "reason": "cut off"}', Review("revise", "cut off", True)),  # unclosed
    ],
)
def test_parse_review(text: str, expected: Review) -> None:
    assert parse_review(text) == expected


def test_an_unknown_decision_falls_back_to_the_words_of_the_reply() -> None:
    review = parse_review('{"decision": "approve", "reason": "we should stop here"}')
    assert review is not None and review.decision == "stop"


@pytest.mark.parametrize("text", ["", "Looks fine.", '{"decision": "maybe"}', "accepted"])
def test_no_decision_is_none(text: str) -> None:
    assert parse_review(text) is None


def test_the_reason_is_capped_and_the_reply_read_only_up_to_its_limit() -> None:
    review = parse_review(json.dumps({"decision": "revise", "reason": "r" * 2000}))
    assert review is not None and review.reason == "r" * 500
    assert parse_review("x " * MAX_REVIEW_CHARS + "accept") is None  # the word is past the limit


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NO CHANGE NEEDED: the function already handles it", "the function already handles it"),
        ("**No changes are necessary.**", "the worker found nothing to change"),
        ("<think>hmm</think>Nothing to change — the test is wrong", "the test is wrong"),
        # The tags as `split_thinking` reads them: with attributes or spaces, or only the closing one.
        ('<think effort="high">hmm</think>NO CHANGE NEEDED: already right', "already right"),
        ("the file looks fine</think>\nNO CHANGE NEEDED: already right", "already right"),
    ],
)
def test_no_change(text: str, reason: str) -> None:
    assert no_change(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "Here is the fix",
        "no change needed\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE",
        "",
        "<think>No change needed here? Let me look again",  # a thought cut off, not a conclusion
    ],
)
def test_a_reply_with_an_edit_is_not_no_change(text: str) -> None:
    assert no_change(text) is None


def test_select_files_keeps_patched_changed_files_up_to_the_limit() -> None:
    from equitr.handlers.review import select_files

    files = [
        {"filename": "a.py", "patch": "@@ -1 +1 @@\n-x\n+y"},
        {"filename": "img.png"},  # binary: no patch
        {"filename": "gone.py", "patch": "@@ -1 +0,0 @@\n-x", "status": "removed"},
        {"filename": "b.py", "patch": "@@ -1 +1 @@\n-x\n+z"},
        {"filename": "c.py", "patch": "@@ -1 +1 @@\n-x\n+w"},
    ]
    chosen, skipped = select_files(files, changed={}, since=None, max_files=2)
    assert [f["filename"] for f in chosen] == ["a.py", "b.py"]
    assert skipped == [
        "`img.png` (binary or too large for a diff)",
        "`gone.py` (removed)",
        "`c.py` (over `review.max_files` = 2)",
    ]
    # Incremental: a file with no change since the last reviewed head is not reviewed again.
    chosen, skipped = select_files(files[:1], changed={"a.py": None}, since="abc", max_files=5)
    assert chosen == [] and skipped == ["`a.py` (binary or too large for a diff)"]

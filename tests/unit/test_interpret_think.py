"""Stripping <think>/<thinking>/<reasoning> blocks from replies."""

from __future__ import annotations

import pytest

from equitr.interpret.think import split_thinking


@pytest.mark.parametrize(
    ("text", "answer", "thinking"),
    [
        ("<think>plan it</think>\n{}", "{}", "plan it"),
        ("<thinking>a</thinking>B<reasoning>c</reasoning>D", "BD", "a\nc"),
        ("<THINK>upper</THINK>x", "x", "upper"),
        ('<think type="hidden">attrs</think>x', "x", "attrs"),
        # unclosed: everything after the tag is thinking
        ('{"a": 1}\n<think>I will now', '{"a": 1}', "I will now"),
        ('<think>JSON follows {"tool": "search"}', "", 'JSON follows {"tool": "search"}'),
        # orphan closing tag (template opened it in the prompt): everything before is thinking
        ("some reasoning here</think>\n[1]", "[1]", "some reasoning here"),
        ("pre <think>x</think> mid </think> post", "post", "pre\nx\nmid"),
        # nested blocks close in order
        ("<think>a<think>b</think>c</think>d", "d", "a\nb\nc"),
        ("no tags at all", "no tags at all", ""),
        ("", "", ""),
    ],
)
def test_split(text: str, answer: str, thinking: str) -> None:
    split = split_thinking(text)
    assert split.answer == answer
    assert split.thinking == thinking


def test_stripped_flag() -> None:
    assert split_thinking("<think></think>x").stripped
    assert not split_thinking("x < think > y").stripped or split_thinking("x < think > y").answer == "x"
    assert not split_thinking("I think that's it").stripped


def test_html_like_text_is_not_a_tag() -> None:
    split = split_thinking("use <thinker> and <reasons>")
    assert split.answer == "use <thinker> and <reasons>"
    assert not split.stripped

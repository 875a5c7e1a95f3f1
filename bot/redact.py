"""Secret redaction for everything that leaves the process: comments, commits, logs, error reports.

Two nets, unioned: the exact values of the secrets this process knows, and patterns for the secret formats
we may meet without knowing them.

- **Known values** are registered from the settings at start-up and by `equitr.github.auth` for every
  installation token and App JWT it mints (forgotten a while after they expire). Each value is also
  matched in the encodings it is most often printed in: JSON string escapes, Python `repr`, URL
  percent-encoding, and git's `Authorization: Basic base64("x-access-token:TOKEN")`.
- **Patterns** cover the token shapes GitHub documents (`ghp_ gho_ ghu_ ghs_ ghr_`, the ~520-character
  `ghs_APPID_JWT` installation tokens with their dots, `github_pat_`), JWTs, model-provider keys, PEM
  private keys, the password of any `scheme://user:password@` URL (`x-access-token:TOKEN@` included), and
  `Authorization:` header values in any case and quoting.

Every pattern runs on its own over the original text and the spans are merged before anything is masked,
so one pattern can never hide a longer secret from another. Each pattern is a literal prefix followed by one
greedy run that succeeds as soon as its minimum length is met, or a run of bounded length: a failed attempt
costs a bounded number of steps, so redaction is linear in the length of the text (no catastrophic
backtracking on hostile input).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

MASK = "[redacted]"
MIN_SECRET_LEN = 6  # shorter values would mask ordinary words
FORGET_AFTER_S = 600.0  # keep an expired token this long (clock drift, late log lines), then forget it

_B64URL = r"[A-Za-z0-9_\-]"
_DOTTED = rf"(?:{_B64URL}|\.(?={_B64URL}))"  # base64url with inner dots (a trailing full stop stays)
_WORD_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"  # not inside a word; a JSON/repr escape may precede

# Each pattern masks its group "s" when it has one, else the whole match.
_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        rf"(?:gh[pousr]_|github_pat_){_DOTTED}{{16,}}",  # every GitHub token prefix, old and new formats
        # A JWT (header.payload.signature, both JSON: `eyJ`) is unmistakable even glued to a word before it.
        rf"eyJ{_B64URL}*\.eyJ{_B64URL}*\.{_B64URL}*",
        rf"{_WORD_START}eyJ{_DOTTED}{{20,}}",  # App JWTs and other base64-encoded JSON
        rf"{_WORD_START}sk-{_B64URL}{{20,}}",  # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-)
        r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]{0,40}PRIVATE KEY-----|\Z)",
        r"://[^\s/:@]{0,256}:(?P<s>[^\s/@]{1,4096})(?=@)",  # the password of a URL's userinfo
        r"(?i:x-access-token):(?P<s>[^\s@/\"'\\<>]+)",  # git's token user, inside or outside a URL
        r"eC1hY2Nlc3MtdG9rZW46[A-Za-z0-9+/]+={0,2}",  # base64("x-access-token:…"), git's Basic credential
        r"(?i:\bauthorization(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?[ \t]*(?:(?:bearer|token|basic|digest)[ \t]+)?)"
        r"(?P<s>[^\s\"'\\,;]+)",
        r"(?i:\b(?:access_token|refresh_token|id_token|client_secret)=)(?P<s>[^\s&\"'\\]+)",
    )
)

_known: set[str] = set()
_expires: dict[str, float] = {}  # registered value → when it may be forgotten (epoch seconds)
_lock = threading.Lock()
_variants_cache: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())


def register(*secrets: str | None, expires_at: float | None = None) -> None:
    """Remember secret values so they are masked wherever they appear, whatever their format.

    With `expires_at` (epoch seconds) the value is forgotten `FORGET_AFTER_S` after it: minted tokens come
    and go, and an expired one is worthless to anyone who reads it.
    """
    with _lock:
        for secret in secrets:
            value = (secret or "").strip()
            if len(value) < MIN_SECRET_LEN or value in MASK:
                continue
            _known.add(value)
            if expires_at is None:
                _expires.pop(value, None)
            elif value not in _expires or _expires[value] < expires_at + FORGET_AFTER_S:
                _expires[value] = expires_at + FORGET_AFTER_S


def forget(*secrets: str) -> None:
    with _lock:
        for secret in secrets:
            _known.discard(secret.strip())
            _expires.pop(secret.strip(), None)


def variants(secret: str) -> Iterator[str]:
    """The forms a secret is printed in besides itself."""
    yield secret
    yield json.dumps(secret)[1:-1]
    yield json.dumps(secret, ensure_ascii=False)[1:-1]
    yield repr(secret)[1:-1]
    yield urllib.parse.quote(secret, safe="")
    yield base64.b64encode(f"x-access-token:{secret}".encode()).decode()


def _known_values() -> tuple[str, ...]:
    global _variants_cache
    now = time.time()
    with _lock:
        for value, until in list(_expires.items()):
            if until <= now:
                _known.discard(value)
                del _expires[value]
        snapshot = frozenset(_known)
        cached_for, values = _variants_cache
        if snapshot == cached_for:
            return values
    forms = {v for secret in snapshot for v in variants(secret) if len(v) >= MIN_SECRET_LEN}
    values = tuple(sorted(forms, key=len, reverse=True))
    with _lock:
        _variants_cache = (snapshot, values)
    return values


def _spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for value in _known_values():
        at = text.find(value)
        while at != -1:
            spans.append((at, at + len(value)))
            at = text.find(value, at + 1)
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = "s" if "s" in pattern.groupindex and match.group("s") is not None else 0
            start, end = match.span(group)
            if end > start:
                spans.append((start, end))
    return spans


def redact(text: str) -> str:
    """`text` with every known secret and every secret-shaped string replaced by `MASK`."""
    if not text:
        return text
    spans = _spans(text)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    pos = 0
    cut_start, cut_end = spans[0]
    for start, end in spans[1:]:
        if start <= cut_end:  # overlapping or touching: one mask
            cut_end = max(cut_end, end)
            continue
        out += [text[pos:cut_start], MASK]
        pos = cut_end
        cut_start, cut_end = start, end
    out += [text[pos:cut_start], MASK, text[cut_end:]]
    return "".join(out)


def redact_all(value: Any, *, depth: int = 0, max_depth: int = 64) -> Any:
    """Every string inside `value` (dict keys and values, lists, tuples) redacted; other values as they are.

    For structured reports (Sentry events): each string is redacted as itself, so a secret is found whatever
    escaping a later serialiser applies (`json.dumps` of a value with quotes, backslashes or non-ASCII).
    """
    if isinstance(value, str):
        return redact(value)
    if depth >= max_depth:
        return MASK if isinstance(value, (dict, list, tuple, set)) else value
    if isinstance(value, dict):
        return {redact_all(k, depth=depth + 1): redact_all(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        items = [redact_all(v, depth=depth + 1) for v in value]
        return items if isinstance(value, list) else type(value)(items)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    return value


# -- logs ----------------------------------------------------------------------------------------------------


def escape_workflow_commands(text: str) -> str:
    """One line that cannot start a GitHub Actions workflow command: `%`, CR and LF escaped the way the
    runner's own command values are (`%25`, `%0D`, `%0A`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class LogFilter(logging.Filter):
    """Redacts every log record, its traceback included, before any handler formats it.

    With `one_line` (on GitHub's runners) the record also becomes a single line with workflow-command
    characters escaped, so text in a log line (a model's reply, a provider's error) can never be read by the
    runner as `::error …`, `::add-mask::` or `::stop-commands::`.
    """

    def __init__(self, *, one_line: bool = False) -> None:
        super().__init__()
        self.one_line = one_line

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if self.one_line:
            extra = [t for t in (record.exc_text, record.stack_info) if t]
            message = escape_workflow_commands("\n".join([message, *extra]))
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.msg, record.args = message, None
        return True


def on_github_runner(environ: dict[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def install_log_filter(handlers: Iterable[logging.Handler] | None = None, *, one_line: bool | None = None) -> None:
    """Put a `LogFilter` on the root logger's handlers (once each). `one_line` defaults to whether this
    process runs on a GitHub Actions runner, where stdout and stderr are parsed for workflow commands."""
    flat = on_github_runner() if one_line is None else one_line
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        for existing in [f for f in handler.filters if isinstance(f, LogFilter)]:
            handler.removeFilter(existing)
        handler.addFilter(LogFilter(one_line=flat))

"""Secret redaction for everything that leaves the process: comments, commits, logs, error reports.

Two nets: the exact values of the secrets this process knows (registered from the settings at start-up),
and patterns for token formats we may meet without knowing them (installation tokens are ~520 characters
since 2025, so the patterns have no upper length bound).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[redacted]"

_PATTERNS = re.compile(
    "|".join(
        [
            r"gh[pousr]_[A-Za-z0-9_]{16,}",  # classic PATs, OAuth, user-to-server, server-to-server, refresh
            r"github_pat_[A-Za-z0-9_]{20,}",  # fine-grained PATs
            r"sk-ant-[A-Za-z0-9_-]{10,}",  # Anthropic
            r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}",  # OpenAI
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            r"(?<=x-access-token:)[^@\s]+",  # token in a git remote URL
            r"(?<=authorization: )(?i:bearer|token|basic) [^\s\"']+",
            r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",  # JWTs (App JWTs)
        ]
    )
)

_known: set[str] = set()
_lock = threading.Lock()


def register(*secrets: str | None) -> None:
    """Remember secret values so they are masked wherever they appear, whatever their format."""
    with _lock:
        for secret in secrets:
            if secret and len(secret.strip()) >= 6:  # very short values would mask ordinary words
                _known.add(secret.strip())


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _PATTERNS.sub(MASK, text)


class LogFilter(logging.Filter):
    """Redacts every log record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def install_log_filter() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(LogFilter())

"""Webhook signature verification (`X-Hub-Signature-256`), over the raw bytes, in constant time."""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value GitHub would send for `body` (used by tests, `replay` and benchmarks)."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """True only for a well-formed sha256 signature of `body` under a non-empty `secret`.

    An empty secret never verifies: HMAC with an empty key is computable by anyone.
    """
    if not secret or not header or not header.startswith(_PREFIX):
        return False
    given = header[len(_PREFIX) :]
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given.lower()):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())

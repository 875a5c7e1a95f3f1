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
    check = Verifier(secret)
    check.update(body)
    return check.matches(header)


class Verifier:
    """The same check, computed while a body streams in, so that a body need not be kept to be verified."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def matches(self, header: str | None) -> bool:
        if not self._secret or not header or not header.startswith(_PREFIX):
            return False
        given = header[len(_PREFIX) :]
        if len(given) != 64 or any(c not in "0123456789abcdef" for c in given.lower()):
            return False
        return hmac.compare_digest(self._mac.hexdigest(), given.lower())

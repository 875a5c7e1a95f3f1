"""Authenticity of what equitr reads back from its store and queue.

Anyone who can write to Redis (or the SQLite file) could otherwise forge a job that pushes with the App's
token. So every job document carries a MAC made when the webhook side stores it and checked when a worker
claims it, and every queue message carries one too. The key is derived from a secret every process of a
deployment already has: the App's private key (App mode) or GITHUB_TOKEN (token mode, and the Action, where
the token is new on every run); else GH_SECRET; else a random key of this process (`equitr replay` and
`equitr run` store and run their jobs in one process).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
from typing import Protocol

from pydantic import SecretStr

from equitr.config.settings import Settings
from equitr.errors import ConfigError
from equitr.jobs.model import encode_args

_PROCESS_KEY = secrets.token_bytes(32)


class Sealable(Protocol):
    """The fields of a job that decide what runs, where and for whom (`NewJob` and `Job` both have them)."""

    @property
    def kind(self) -> str: ...
    @property
    def repo(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def requester(self) -> str: ...
    @property
    def delivery_id(self) -> str: ...
    @property
    def installation_id(self) -> int | None: ...
    @property
    def comment_id(self) -> int | None: ...
    @property
    def args(self) -> dict[str, object]: ...
    @property
    def uid(self) -> str: ...


def master_key(settings: Settings) -> bytes:
    """The deployment's key: the same in every process that runs with the same credentials."""
    for source in _sources(settings):
        text = source.get_secret_value().strip()
        if text:
            return hashlib.sha256(b"equitr master key v1\0" + text.encode()).digest()
    return _PROCESS_KEY


def _sources(settings: Settings) -> list[SecretStr]:
    out: list[SecretStr] = []
    if settings.mode == "app":
        # A missing key is reported where it is needed; fall back to the other secrets meanwhile.
        with contextlib.suppress(ConfigError):
            out.append(settings.private_key())
    out += [s for s in (settings.github_token, settings.gh_secret) if s is not None]
    return out


def derive(master: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so a MAC made for one thing never verifies as another."""
    return hmac.new(master, b"equitr/" + purpose.encode(), hashlib.sha256).digest()


def process_key() -> bytes:
    return _PROCESS_KEY


def job_mac(key: bytes, job: Sealable) -> str:
    # Only fields that never change after creation and survive Redis's Lua JSON round trip exactly
    # (no floats outside the args text); the id is not known before the store assigns it.
    fields = [
        "job/v1",
        job.kind,
        job.repo,
        int(job.number),
        job.requester,
        job.delivery_id,
        job.installation_id,
        job.comment_id,
        encode_args(dict(job.args)),
    ]
    if job.uid:  # the ID of the job's comment markers; records from before uids were made without it
        fields.append(job.uid)
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def job_ok(key: bytes, job: Sealable, mac: str) -> bool:
    try:
        return bool(mac) and hmac.compare_digest(job_mac(key, job), mac)
    except (TypeError, ValueError):  # a record with wrong types was not written by equitr
        return False


def sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def signed(key: bytes, data: bytes, mac: str) -> bool:
    return hmac.compare_digest(sign(key, data), mac)

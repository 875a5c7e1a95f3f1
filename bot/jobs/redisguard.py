"""Start-up checks for a Redis queue: who can reach it, and whether it keeps what equitr stores.

Anyone who can write to equitr's Redis can drop or re-queue jobs, so Redis must ask for a password (or be
reached over TLS or a unix socket). And Redis without persistence loses every acknowledged job, dedupe key
and the job-id sequence when it restarts: equitr refuses it unless the operator says they accept that.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from equitr.errors import ConfigError

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]

INSECURE_ENV = "EQUITR_REDIS_INSECURE"
VOLATILE_ENV = "EQUITR_ALLOW_VOLATILE_REDIS"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    message: str
    fix: str = ""


def display_url(url: str) -> str:
    """The URL without its password (O4: a queue URL in a message or log must not carry the secret)."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    shown = f"{user}:***@" if user and at else ("***@" if at else "")
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}"
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit((parts.scheme, f"{shown}{hostport}", parts.path, query, ""))


def url_secrets(url: str) -> list[str]:
    """The password(s) in a Redis URL, for redaction."""
    try:
        parts = urllib.parse.urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return [url]  # unparsable: mask the whole thing wherever it appears
    found += [v for k, v in urllib.parse.parse_qsl(parts.query) if k.lower() == "password"]
    # As written in the URL, and as the client sends it (percent-decoded).
    return sorted({form for s in found if s for form in (s, urllib.parse.unquote(s))})


def check_url(url: str, *, insecure_ok: bool) -> Finding:
    """Refuse a plain redis:// URL without a password, unless the operator opted in."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return Finding("fail", "EQUITR_QUEUE_URL is not a valid Redis URL.", "use redis://:PASSWORD@HOST:6379/0")
    if parts.scheme in ("rediss", "unix"):
        return Finding("ok", f"{parts.scheme}:// (TLS or a local socket)")
    query_password = any(k.lower() == "password" and v for k, v in urllib.parse.parse_qsl(parts.query))
    if password or query_password:
        return Finding("ok", "Redis asks for a password")
    warning = (
        f"Redis at {display_url(url)} has no password: anyone who can reach it (a process on this host, a "
        "container on its network) can read, drop and re-queue equitr's jobs."
    )
    fix = (
        "set `requirepass` (or an ACL user) in redis.conf and put it in the URL: "
        "EQUITR_QUEUE_URL=redis://:PASSWORD@HOST:6379/0 — or use rediss:// or a unix socket"
    )
    if insecure_ok:
        return Finding("warn", warning + f" Allowed because {INSECURE_ENV}=1.", fix)
    return Finding("fail", warning, f"{fix}; or, if only equitr can reach it, set {INSECURE_ENV}=1")


def without_credentials(url: str) -> str:
    """The same Redis URL with no user, no password (in the userinfo or the query)."""
    parts = urllib.parse.urlsplit(url)
    hostport = parts.netloc.rpartition("@")[2]
    query = urllib.parse.urlencode(
        [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
         if k.lower() not in ("password", "username")]
    )  # fmt: skip
    return urllib.parse.urlunsplit((parts.scheme, hostport, parts.path, query, ""))


def check_server_auth(url: str) -> Finding | None:
    """Whether the Redis server itself turns away a client without credentials. A password in the URL proves
    nothing: Redis without `requirepass` accepts AUTH with any password. None when the server cannot be
    asked (not reachable: the queue check says so)."""
    import redis

    try:
        client = redis.Redis.from_url(without_credentials(url), socket_timeout=5, socket_connect_timeout=5)
    except ValueError:
        return None
    try:
        client.ping()
    except redis.AuthenticationError:
        return Finding("ok", "Redis turns away clients without a password")
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc):
            return Finding("ok", "Redis turns away clients without a password")
        return None
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return Finding(
        "warn",
        f"Redis at {display_url(url)} answers clients without a password (no `requirepass`; any password in "
        "EQUITR_QUEUE_URL is accepted and checks nothing): anyone who can reach it can read, drop and forge "
        "equitr's jobs.",
        "set `requirepass` (or ACL users without `nopass`) in redis.conf; see docs/queue.md",
    )


def _config(client: Any, name: str, info_section: str, info_key: str) -> str | None:
    """A Redis setting from CONFIG GET, or from INFO where CONFIG is disabled (managed Redis often renames
    it); None when neither answers."""
    import redis

    try:
        value = client.config_get(name).get(name)
        if value is not None:
            return str(value.decode() if isinstance(value, bytes) else value)
    except redis.ResponseError:
        pass
    try:
        value = client.info(info_section).get(info_key)
    except redis.ResponseError:
        return None
    return None if value is None else str(value)


def check_persistence(client: Any, *, volatile_ok: bool) -> list[Finding]:
    """Append-only persistence on (refused when off, unless allowed), and no eviction of equitr's keys."""
    out: list[Finding] = []
    aof = _config(client, "appendonly", "persistence", "aof_enabled")
    fix = "in redis.conf: appendonly yes, appendfsync everysec (see docs/queue.md)"
    if aof is None:
        out.append(
            Finding("warn", "cannot tell whether Redis persists its data (CONFIG and INFO are not allowed)", fix)
        )
    elif aof in ("yes", "1"):
        out.append(Finding("ok", "Redis persists with the append-only file"))
    else:
        message = (
            "Redis runs without the append-only file (appendonly no): when it restarts, every queued job, "
            "every dedupe key and the job-id sequence are lost, and job ids start again at 1."
        )
        if volatile_ok:
            out.append(Finding("warn", message + f" Allowed because {VOLATILE_ENV}=1.", fix))
        else:
            out.append(Finding("fail", message, f"{fix}; or, to accept losing jobs, set {VOLATILE_ENV}=1"))
    policy = _config(client, "maxmemory-policy", "memory", "maxmemory_policy")
    if policy is not None and policy != "noeviction":
        out.append(
            Finding(
                "warn",
                f"Redis evicts keys under memory pressure (maxmemory-policy {policy}): jobs and dedupe keys may "
                "vanish.",
                "in redis.conf: maxmemory-policy noeviction",
            )
        )
    return out


def enforce(findings: list[Finding]) -> None:
    """Stop start-up on the first failed check; log the warnings."""
    for finding in findings:
        if finding.status == "fail":
            raise ConfigError(finding.message, hint=finding.fix)
        if finding.status == "warn":
            log.warning("%s (%s)", finding.message, finding.fix)

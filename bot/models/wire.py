"""The HTTP edge shared by the remote clients: one POST, and every failure turned into a `ModelError`.

Error classes (decided here, acted on in `retry.py`):
    429 rate limit, 408/409/425, 5xx, 529 overloaded, timeouts, connection errors  → retryable
    429/402/400 with a spent quota or billing problem                              → never retried
    400, 401, 403, 404, 422 and anything else                                       → never retried
Secrets the caller passes in are scrubbed from every message, whatever the server echoed back. Of an error
response only the `error.message` field is kept (never the raw body, which may echo our request headers),
and it is redacted like every other text equitr shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from equitr.errors import ModelError
from equitr.errors.retry import retry_after_s
from equitr.redact import redact

_RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504, 529}
_QUOTA_CODES = {"insufficient_quota", "billing_error", "billing_hard_limit_reached", "credit_limit_exceeded"}
_QUOTA_WORDS = ("exceeded your current quota", "credit balance is too low", "spend limit", "billing")
_MAX_DETAIL = 300
# What equitr reads of one answer. A reply of `max_tokens` tokens is a few KiB (with thinking, tens); a body
# beyond this is a broken or hostile server, and is not buffered.
MAX_RESPONSE_BYTES = 1024**2


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one provider lives and what to tell the user when it cannot be reached or refuses us."""

    label: str  # "Ollama at http://localhost:11434"
    unreachable_hint: str
    auth_hint: str = ""
    missing_model_hint: str = ""


CONNECT_TIMEOUT_S = 10.0


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    endpoint: Endpoint,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """POST `payload` as JSON and return the JSON object the server answered, or raise ModelError."""
    return await request_json(
        session,
        "POST",
        url,
        payload,
        endpoint=endpoint,
        timeout_s=timeout_s,
        headers=headers,
        secrets=secrets,
    )


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    payload: Mapping[str, Any] | None = None,
    *,
    endpoint: Endpoint,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """One HTTP request whose answer must be a JSON object; every failure becomes a ModelError."""
    # A server that does not even accept the connection is known dead long before a slow answer is due.
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, timeout_s))
    hdrs = dict(headers or {})
    try:
        async with session.request(method, url, json=payload, headers=hdrs, timeout=timeout) as resp:
            text = await _read_capped(resp, endpoint)
            if resp.status >= 400:
                raise http_error(resp.status, text, resp.headers, endpoint=endpoint, secrets=secrets)
    except TimeoutError:
        raise ModelError(
            f"{endpoint.label} did not answer within {timeout_s:g} s.",
            retryable=True,
            hint="A slow or overloaded model server: try again, pick a smaller model, or raise EQUITR_MODEL_TIMEOUT "
            "(seconds per model call).",
            kind="timeout",
        ) from None
    except aiohttp.ClientConnectionError as exc:
        detail = _scrub(str(exc), secrets)
        raise ModelError(
            f"Cannot reach {endpoint.label}: {detail}", retryable=True, hint=endpoint.unreachable_hint
        ) from None
    except aiohttp.ClientError as exc:
        raise ModelError(
            f"HTTP error talking to {endpoint.label}: {_scrub(str(exc), secrets)}", retryable=True
        ) from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        shown = redact(_scrub(text, secrets))[:120]  # redacted before it is cut: half a secret matches nothing
        raise ModelError(
            f"{endpoint.label} answered with something that is not a JSON object: {shown!r}",
            retryable=True,
        )
    return data


async def _read_capped(resp: aiohttp.ClientResponse, endpoint: Endpoint) -> str:
    """The body as text, read in chunks and refused past `MAX_RESPONSE_BYTES` (also when the server sends no
    Content-Length)."""
    too_large = ModelError(
        f"{endpoint.label} answered with more than {MAX_RESPONSE_BYTES // 1024**2} MiB; equitr does not read "
        "answers that large.",
        status=resp.status,
        hint="Check that the model server is what the URL says, and lower `max_tokens` if it is.",
    )
    if resp.content_length is not None and resp.content_length > MAX_RESPONSE_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise too_large
    try:
        return body.decode(resp.charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def http_error(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    endpoint: Endpoint,
    secrets: Sequence[str] = (),
) -> ModelError:
    """The ModelError for one HTTP error response, classified for retrying and phrased for a user."""
    code, message = _error_fields(body)
    # Only the provider's own message: a raw body (a proxy's echo of our headers, an HTML page) is not shown.
    detail = redact(_scrub(message, secrets)).strip()[:_MAX_DETAIL] or f"HTTP {status}, no error message"
    where = endpoint.label
    if _is_quota(code, message):
        return ModelError(
            f"{where} refused the request: the account's quota or spend limit is used up ({detail}).",
            status=status,
            hint="Add credit or raise the spend limit with the provider, or switch to a local model "
            "(e.g. ollama/qwen3:30b or local/smollm2).",
            kind="quota-used-up",
        )
    if status == 429:
        wait = _retry_after(headers)
        return ModelError(
            f"{where} is rate limiting requests ({detail}).",
            status=status,
            retryable=True,
            retry_after_s=wait,
            hint="equitr waits and retries; if this persists, lower concurrency or use another model.",
        )
    if status in _RETRYABLE or status >= 500:
        return ModelError(
            f"{where} failed with HTTP {status} ({detail}).",
            status=status,
            retryable=True,
            retry_after_s=_retry_after(headers),
            hint="A server-side problem; equitr retries with backoff.",
        )
    if status in (401, 403):
        return ModelError(
            f"{where} rejected the credentials (HTTP {status}: {detail}).",
            status=status,
            hint=endpoint.auth_hint or None,
        )
    if status == 404:
        return ModelError(
            f"{where} does not know this model or endpoint (HTTP 404: {detail}).",
            status=status,
            hint=endpoint.missing_model_hint or None,
        )
    return ModelError(f"{where} rejected the request (HTTP {status}: {detail}).", status=status)


def _error_fields(body: str) -> tuple[str, str]:
    """(code, message) from the error shapes of OpenAI, Anthropic, Ollama and llama.cpp servers."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    err = data.get("error", data)
    if isinstance(err, str):  # Ollama: {"error": "model 'x' not found"}
        return "", err
    if not isinstance(err, dict):
        return "", ""
    code = " ".join(str(err.get(key) or "") for key in ("code", "type")).strip()
    message = err.get("message") or err.get("detail") or ""
    if not isinstance(message, str):
        message = json.dumps(message)
    return code, message


def _is_quota(code: str, message: str) -> bool:
    if any(c in _QUOTA_CODES for c in code.split()):
        return True
    lowered = message.lower()
    return any(word in lowered for word in _QUOTA_WORDS)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    # OpenAI also sends `retry-after-ms`, which is more precise when present.
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after_s(headers.get("retry-after"))


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text

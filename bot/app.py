"""The webhook server (starlette): `POST /webhook`, `GET /healthz`, `GET /metrics`.

Nothing about a delivery is trusted until its signature checks out over the raw bytes, and nothing is
parsed before that. Bad input gets a 4xx with a one-line reason; only our own failures are 5xx.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import signature
from bot.dispatch import Dispatcher

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB.
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class TooLarge(Exception):
    pass


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "equitr_webhook_requests", "Webhook deliveries by response status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "equitr_webhook_seconds",
            "Time to answer a webhook delivery",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.jobs = Gauge("equitr_jobs", "Jobs by state", ["state"], registry=self.registry)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:  # a lying or absent Content-Length: stop reading, don't buffer the rest
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _payload(body: bytes, content_type: str) -> dict[str, Any] | str:
    """The JSON object of a delivery (GitHub sends JSON, or a form with a `payload` field), or why there is
    none."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
            text = form.get("payload", [""])[0]
        else:
            text = body.decode("utf-8")
        data = json.loads(text)
    except RecursionError:  # nesting deeper than Python's stack: no webhook payload looks like that
        return "body is JSON nested too deeply"
    except (UnicodeDecodeError, ValueError):
        return "body is not a JSON object"
    return data if isinstance(data, dict) else "body is not a JSON object"


def _reply(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": message, **extra}, status_code=status)


def create_app(
    *,
    dispatcher: Dispatcher,
    secret: str,
    lifespan: Any = None,
    health: Any = None,
) -> Starlette:
    """The ASGI app. `health` is a callable returning a dict (queue depth, jobs) for `/healthz`."""
    metrics = Metrics()

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        response = await _webhook(request)
        metrics.requests.labels(str(response.status_code)).inc()
        metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _webhook(request: Request) -> Response:
        try:
            body = await _read_body(request)
        except TooLarge:
            return _reply(413, f"payload larger than {MAX_BODY} bytes")
        if not signature.verify(body, request.headers.get("x-hub-signature-256"), secret):
            return _reply(401, "missing or invalid X-Hub-Signature-256")
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        if not _EVENT.match(event):
            return _reply(400, "missing or malformed X-GitHub-Event header")
        if not _DELIVERY.match(delivery):
            return _reply(400, "missing or malformed X-GitHub-Delivery header")
        payload = _payload(body, request.headers.get("content-type", "application/json"))
        if isinstance(payload, str):
            return _reply(400, payload)
        try:
            outcome = await dispatcher.dispatch(event, delivery, payload)
        except Exception:
            # Our failure, not the sender's: say so (5xx), keep serving, and let GitHub's redelivery retry.
            log.exception("delivery %s (%s) failed", delivery, event)
            return _reply(503, "equitr could not store this delivery; redeliver it later")
        background = BackgroundTask(dispatcher.acknowledge, outcome.acks) if outcome.acks else None
        return JSONResponse(outcome.as_json(), status_code=outcome.status, background=background)

    async def healthz(request: Request) -> Response:
        data: dict[str, Any] = {"ok": True}
        if health is not None:
            try:
                data.update(health())
            except Exception as exc:  # a sick queue is what /healthz is for: report it, don't crash
                data = {"ok": False, "error": type(exc).__name__}
        return JSONResponse(data, status_code=200 if data.get("ok") else 503)

    async def metrics_endpoint(request: Request) -> Response:
        if health is not None:
            try:
                for state, count in (health().get("jobs") or {}).items():
                    metrics.jobs.labels(state).set(count)
            except Exception:
                log.warning("job counts unavailable for /metrics", exc_info=True)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def no_lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan or no_lifespan,
    )

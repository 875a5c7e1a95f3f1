"""The webhook server (starlette): `POST /webhook`, `GET /healthz`, `GET /metrics`.

Nothing about a delivery is trusted until its signature checks out over the raw bytes, and nothing is
parsed before that. Bad input gets a 4xx with a one-line reason; only our own failures are 5xx.

Before the signature is known a request costs bounded resources (docs/security.md, "Webhook edge"): at most
`MAX_READS` bodies are read at once, each within `read_timeout_s`; only the events equitr acts on are kept in
memory, up to `MAX_BODY`; any other event is checked against its signature as it streams in and dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from equitr.errors import TooLarge
from equitr.events import EVENTS
from equitr.github.retry import OUTSIDE_JOBS
from equitr.jobs.metrics import StoreCollector
from equitr.jobs.store import JobStore
from equitr.web import signature
from equitr.web.dispatch import Dispatcher

log = logging.getLogger(__name__)

# The events equitr acts on: the largest of GitHub's published examples is 30 KB, and the largest these
# events can carry (an issue and a comment body at GitHub's 65 536-character limit, every character escaped)
# stays under 1 MiB. Other events are read up to GitHub's own 25 MB cap, checked, and never kept.
MAX_BODY = 2 * 1024 * 1024
GITHUB_MAX_BODY = 25 * 1024 * 1024
MAX_READS = 32  # bodies read at once before their signature is known: at most 32 × MAX_BODY in memory
READ_TIMEOUT_S = 10.0  # GitHub itself gives up on a delivery after 10 s
HEALTH_TIMEOUT_S = 3.0  # a health check that takes longer is a failed one (platform probes wait ~5 s)
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Body:
    data: bytes  # empty unless the event is one equitr acts on
    signed: bool


class Metrics:
    """The serving process's own measurements (webhooks), and the store's metrics read at scrape time
    (`equitr.jobs.metrics.StoreCollector`: jobs, phases, models, GitHub, the queue)."""

    def __init__(self, store: JobStore | None = None, health: Any = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(OUTSIDE_JOBS)
        if store is not None:
            self.registry.register(StoreCollector(store))
        elif health is not None:
            self.registry.register(_HealthJobs(health))
        self.requests = Counter(
            "equitr_webhook_requests", "Webhook deliveries by response status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "equitr_webhook_seconds",
            "Time to answer a webhook delivery",
            registry=self.registry,
            # Up to GitHub's 10 s limit and past it: an answer that waits on GitHub shows up here.
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )


class _HealthJobs(Collector):
    """`equitr_jobs{state}` from `/healthz`'s counts, read at each scrape (for an app built without a store)."""

    def __init__(self, health: Any) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        counts = {"queued": 0, "running": 0, **(self.health().get("jobs") or {})}
        gauge = GaugeMetricFamily("equitr_jobs", "Jobs queued or running now, by state", labels=["state"])
        for state, n in sorted(counts.items()):
            gauge.add_metric([state], n)
        yield gauge


async def _read_body(request: Request, *, keep: bool, secret: str) -> Body:
    """Read the body, checking its signature on the way; keep the bytes only when `keep`."""
    limit = MAX_BODY if keep else GITHUB_MAX_BODY
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    check = signature.Verifier(secret)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length: stop reading, don't buffer the rest
            raise TooLarge(limit)
        check.update(chunk)
        if keep:
            chunks.append(chunk)
    return Body(b"".join(chunks), check.matches(request.headers.get("x-hub-signature-256")))


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
    read_timeout_s: float = READ_TIMEOUT_S,
    metrics_token: str | None = None,
    store: JobStore | None = None,
    dashboard: Starlette | None = None,
) -> Starlette:
    """The ASGI app. `health` is a callable returning a dict (queue depth, jobs) for `/healthz`;
    `read_timeout_s` bounds the wait for a slot to read a body in and the time to read it. `/metrics` and the
    details of `/healthz` are shown only with `Authorization: Bearer <metrics_token>` (never without one).
    `dashboard` is served under `/dashboard` (bot/web/dashboard), when sign-in for it is configured."""
    metrics = Metrics(store, health)
    reads = asyncio.Semaphore(MAX_READS)

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        response = await _webhook(request)
        metrics.requests.labels(str(response.status_code)).inc()
        metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _receive(request: Request, keep: bool) -> Body | Response:
        """The body, read within the limits that hold before anyone is authenticated."""
        try:
            # Every slot is given back within read_timeout_s of being taken, so this outlasts all holders.
            async with asyncio.timeout(2 * read_timeout_s):
                await reads.acquire()  # a cancelled acquire gives back a slot it was just granted
        except TimeoutError:
            return _reply(503, "too many deliveries are arriving at once; redeliver this one")
        try:
            async with asyncio.timeout(read_timeout_s):
                return await _read_body(request, keep=keep, secret=secret)
        except TooLarge as exc:
            return _reply(413, f"payload larger than {exc.limit} bytes")
        except TimeoutError:
            return _reply(408, f"the body was not received within {read_timeout_s:g} s")
        except ClientDisconnect:
            return _reply(400, "the client disconnected before sending the whole body")
        finally:
            reads.release()

    async def _webhook(request: Request) -> Response:
        event = request.headers.get("x-github-event", "")
        received = await _receive(request, keep=event in EVENTS)
        if isinstance(received, Response):
            return received
        if not received.signed:
            return _reply(401, "missing or invalid X-Hub-Signature-256")
        delivery = request.headers.get("x-github-delivery", "")
        if not _EVENT.match(event):
            return _reply(400, "missing or malformed X-GitHub-Event header")
        if not _DELIVERY.match(delivery):
            return _reply(400, "missing or malformed X-GitHub-Delivery header")
        if event not in EVENTS:
            return _reply(200, "no work", jobs=[])
        payload = _payload(received.data, request.headers.get("content-type", "application/json"))
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

    def insider(request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return (
            bool(metrics_token)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), str(metrics_token).encode())
        )

    async def checked() -> dict[str, Any]:
        """`health()` in a thread, within HEALTH_TIMEOUT_S: a store that hangs makes /healthz say so, never
        stall it (or the event loop)."""
        data: dict[str, Any] = {"ok": True}
        if health is not None:
            try:
                async with asyncio.timeout(HEALTH_TIMEOUT_S):
                    data.update(await asyncio.to_thread(health))
            except Exception as exc:  # a sick queue is what /healthz is for: report it, don't crash
                data = {"ok": False, "error": type(exc).__name__}
        return data

    async def healthz(request: Request) -> Response:
        data = await checked()
        status = 200 if data.get("ok") else 503
        if not insider(request):
            # Everyone learns whether deliveries can be taken; queue depth and job counts are not public.
            return JSONResponse({"ok": bool(data.get("ok"))}, status_code=status)
        return JSONResponse(data, status_code=status)

    async def metrics_endpoint(request: Request) -> Response:
        if not metrics_token:
            return _reply(403, "metrics are off: set EQUITR_METRICS_TOKEN and send it as `Authorization: Bearer …`")
        if not insider(request):
            return JSONResponse(
                {"status": "missing or wrong bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            # Read from the store now (a thread: a slow store never stalls the loop): no gauge goes stale.
            text = await asyncio.to_thread(generate_latest, metrics.registry)
        except Exception as exc:  # the store is down: say so, as /healthz does
            log.warning("the job store's metrics are unavailable for /metrics", exc_info=True)
            return _reply(503, f"metrics unavailable: the job store failed ({type(exc).__name__})")
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def no_lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    async def dashboard_off(request: Request) -> Response:
        return _reply(
            403,
            "the dashboard is off: set EQUITR_DASHBOARD_TOKEN, or GH_CLIENT_ID and GH_CLIENT_SECRET "
            "(docs/dashboard.md)",
        )

    routes: list[BaseRoute] = [
        Route("/webhook", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if dashboard is not None:
        routes.append(Mount("/dashboard", app=dashboard))
    else:
        routes.append(Route("/dashboard{rest:path}", dashboard_off, methods=["GET", "POST"]))
    return Starlette(
        routes=routes,
        lifespan=lifespan or no_lifespan,
    )

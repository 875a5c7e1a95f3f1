"""`equitr serve`: the ASGI app with a lifespan that owns the shared HTTP session and the in-process workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from starlette.applications import Starlette

from equitr.config.settings import Settings
from equitr.github.scope import WEBHOOK
from equitr.jobs.queue import Workers
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.dashboard import check_config, config_from, create_dashboard

log = logging.getLogger(__name__)


def build_app(settings: Settings, *, workers: int) -> Starlette:
    services = services_mod.build(settings)
    init_sentry(settings)
    session_holder: dict[str, aiohttp.ClientSession] = {}

    async def github(installation_id: int | None):  # type: ignore[no-untyped-def]
        return await services.access.api(session_holder["session"], installation_id, scope=WEBHOOK)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        session_holder["session"] = aiohttp.ClientSession()
        pool = None
        runner = None
        if workers:
            runner = services.runner()
            services.bind_worker(runner)
            # Jobs left `running` by a crash are taken up again before new work starts.
            await asyncio.to_thread(runner.sweep, startup=True)
            pool = Workers(services.queue, count=workers)
            pool.start()
        try:
            yield
        finally:
            if pool is not None and runner is not None:
                # uvicorn runs this after SIGTERM: running jobs end or are handed back, never abandoned.
                await asyncio.to_thread(pool.drain, runner.drain, settings.shutdown_grace_s)
            await session_holder["session"].close()
            services.close()

    secret = settings.gh_secret.get_secret_value() if settings.gh_secret else ""
    dashboard = None
    auth = config_from(settings)
    if auth.any:
        check_config(auth, host=settings.host)
        dashboard = create_dashboard(services.store, auth)
    else:
        log.info("dashboard off: set EQUITR_DASHBOARD_TOKEN, or GH_CLIENT_ID and GH_CLIENT_SECRET (docs/dashboard.md)")
    return create_app(
        dispatcher=services.dispatcher(github),
        secret=secret,
        lifespan=lifespan,
        health=services.health,
        read_timeout_s=settings.read_timeout_s,
        metrics_token=settings.metrics_token.get_secret_value() if settings.metrics_token else None,
        store=services.store,
        dashboard=dashboard,
    )


# -- the HTTP server ------------------------------------------------------------------------------------

MAX_CONNECTIONS = 1000  # uvicorn answers 503 to new requests beyond this many open connections
MAX_HEADER_BYTES = 16 * 1024  # a request's headers (GitHub sends about 1 KB)
KEEP_ALIVE_S = 5


def serve(app: Starlette, settings: Settings, *, host: str, port: int) -> None:
    """Run `app` under uvicorn with the limits of docs/security.md ("Webhook edge"), on httptools' C parser
    and uvloop's event loop where uvloop installs: less CPU per delivery than h11 on asyncio's own loop
    (docs/operations.md, "Load")."""
    import uvicorn

    _raise_fd_limit()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        loop="auto",  # uvloop when it is installed, asyncio's loop otherwise
        http=deadline_protocol(settings.read_timeout_s),
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def deadline_protocol(header_timeout_s: float, max_header_bytes: int = MAX_HEADER_BYTES) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the two bounds on a request's headers that it lacks:

    - a deadline: a client that sends its headers a byte at a time (slowloris) is disconnected instead of
      holding a connection, and a file descriptor, for ever (the app's own deadline covers the body);
    - a size: httptools keeps a header it has not seen the end of, so one endless header line would grow
      until the deadline. Each completed header is counted, and so is every read while a request's head is
      incomplete (the read that begins a request is not: at most one read's worth, 256 KiB, more is held);
      past `max_header_bytes` the request gets a 400 and a closed connection, as h11 answered."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DeadlineHttpToolsProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _head: int | None = 0  # bytes read of this request's head; None once its headers are complete
        _fields = 0  # bytes of this request's completed header lines

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._head is not None:
                self._head += len(data)
            super().data_received(data)  # an error raised in a callback ends in uvicorn's 400 and close
            if self._head is not None and self._head > max_header_bytes and not self.transport.is_closing():
                self.logger.warning("Request headers larger than %d bytes.", max_header_bytes)
                self.send_400_response("Request headers too large.")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head = 0
            self._fields = 0

        def on_header(self, name: bytes, value: bytes) -> None:
            self._fields += len(name) + len(value) + 4  # ": " and CRLF
            if self._fields > max_header_bytes:
                raise ValueError(f"request headers larger than {max_header_bytes} bytes")
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head = None
            self._disarm()  # the headers are in; the app bounds the body
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head = 0  # what arrives next on this connection is the next request's head
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._arm()  # the next request on this connection gets the same deadline
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return DeadlineHttpToolsProtocol


def _raise_fd_limit() -> None:
    """Open connections cost a file descriptor each: use the hard limit, not the (often 1024) soft one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %s: %s", soft, exc)


def init_sentry(settings: Settings) -> None:
    """Error reports to Sentry, with nothing secret in them: no frame locals (a token travels in function
    arguments, where Sentry's key-name scrubber cannot see it), no request bodies, and every string of every
    event (message, exception values, breadcrumbs, extra data) passed through `equitr.redact` one by one.

    Only Sentry's default integrations (logging, excepthook, threading …): the ones it would enable because a
    library is installed record more than errors (Redis commands, request data) and change what they hook —
    its Huey integration adds `sentry_headers` to every queued task, which the signed queue refuses."""
    if settings.sentry_dsn is None:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_event,
        include_local_variables=False,
        max_request_body_size="never",  # personal data stays off too (the SDK default)
        auto_enabling_integrations=False,
    )


def scrub_event(event: Any, hint: Any) -> Any:
    """Every string inside a Sentry event (or breadcrumb), redacted where it stands: each string is masked as
    itself, before any serialiser escapes it, so quotes, backslashes or non-ASCII in a secret change nothing."""
    from equitr.redact import redact_all

    return redact_all(event)

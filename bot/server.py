"""`equitr serve`: the ASGI app with a lifespan that owns the shared HTTP session and the in-process workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette

from bot import services as services_mod
from bot.app import create_app
from bot.queue import Workers
from bot.settings import Settings

log = logging.getLogger(__name__)


def build_app(settings: Settings, *, workers: int) -> Starlette:
    services = services_mod.build(settings)
    init_sentry(settings)
    session_holder: dict[str, aiohttp.ClientSession] = {}

    async def github(installation_id: int | None):  # type: ignore[no-untyped-def]
        return await services.access.api(session_holder["session"], installation_id)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        session_holder["session"] = aiohttp.ClientSession()
        pool = None
        if workers:
            runner = services.runner()
            services.bind_worker(runner)
            # Jobs left `running` by a crash are taken up again before new work starts.
            await asyncio.to_thread(runner.sweep)
            pool = Workers(services.queue, count=workers)
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await asyncio.to_thread(pool.stop, graceful=False)
            await session_holder["session"].close()
            services.close()

    secret = settings.gh_secret.get_secret_value() if settings.gh_secret else ""
    return create_app(dispatcher=services.dispatcher(github), secret=secret, lifespan=lifespan, health=services.health)


def init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    import sentry_sdk

    from bot.redact import redact

    def scrub(event, hint):  # type: ignore[no-untyped-def]
        # Error reports pass through the same redaction as comments and logs.
        import json

        return json.loads(redact(json.dumps(event, default=str)))

    sentry_sdk.init(dsn=settings.sentry_dsn.get_secret_value(), before_send=scrub, send_default_pii=False)

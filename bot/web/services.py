"""Wiring: from one `Settings` to the store, queue, GitHub access, dispatcher and runner.

The only place that knows which concrete adapters go together; everything else takes them as arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from equitr import redact
from equitr.config.settings import Settings
from equitr.errors import ConfigError
from equitr.events.decisions import Identity
from equitr.github.access import GitHubAccess
from equitr.github.permissions import Permissions
from equitr.github.scope import WEBHOOK
from equitr.jobs import redisguard, seal
from equitr.jobs.queue import Queue, bind
from equitr.jobs.runner import Handler, Runner
from equitr.jobs.store import JobStore, open_store
from equitr.jobs.store.redis import RedisStore
from equitr.jobs.store.rules import process_owner
from equitr.web.dispatch import Dispatcher, GitHubFactory

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: JobStore
    queue: Queue
    access: GitHubAccess
    permissions: Permissions = field(default_factory=Permissions)

    @property
    def identity(self) -> Identity:
        return Identity(app_id=self.settings.gh_app_id)

    def dispatcher(self, github: GitHubFactory) -> Dispatcher:
        return Dispatcher(
            store=self.store,
            queue=self.queue,
            github=github,
            permissions=self.permissions,
            identity=self.identity,
            inline_reads=self.settings.redis_url is None,
        )

    def runner(self, handlers: dict[str, Handler] | None = None) -> Runner:
        if handlers is None:
            from equitr.handlers.handlers import WorkEnv
            from equitr.handlers.handlers import handlers as work_handlers

            env = WorkEnv(settings=self.settings, access=self.access, permissions=self.permissions)
            if self.settings.workdir is not None:
                env.workdir = self.settings.workdir
            handlers = work_handlers(env)
        return Runner(
            store=self.store,
            github=self.access.api,
            handlers=handlers,
            owner=process_owner(),
            lease_s=self.settings.lease_s,
            enqueue=self.queue.enqueue_job,
            enqueue_later=self.queue.enqueue_job_later,
            permissions=self.permissions,
            docs_url=self.settings.docs_url,
            identity=self.access.identity,
            web_url=self.settings.web_url,
        )

    def bind_worker(self, runner: Runner) -> None:
        # Load the price catalogue now, so that choosing a model inside a job stays under a millisecond.
        from equitr.models.manager import ModelManager

        ModelManager().warm()
        bind(run_job=runner.execute, notify=runner.notify, sweep=lambda: (runner.sweep(), None)[1])

    def health(self) -> dict[str, Any]:
        self.store.check()  # Redis that lost its data while we ran: 503, not a quiet restart at job 1
        counts: dict[str, int] = {}
        for job in self.store.active():
            counts[job.state] = counts.get(job.state, 0) + 1
        return {
            "ok": True,
            "queue": "redis" if self.settings.redis_url else "sqlite",
            "pending": self.queue.pending(),
            "jobs": counts,
        }

    def close(self) -> None:
        self.queue.close()
        self.store.close()


def build(settings: Settings) -> Services:
    """Open the store and queue. With Redis, refuse (ConfigError) one that has no password or no persistence,
    unless the operator opted in (`equitr.jobs.redisguard`)."""
    redact.register(
        *(
            s.get_secret_value()
            for s in (
                settings.gh_secret,
                settings.github_token,
                settings.openai_api_key,
                settings.anthropic_api_key,
                settings.gh_private_key,
                settings.sentry_dsn,
                settings.metrics_token,
            )
            if s is not None
        )
    )
    # Passwords inside URLs are secrets too (O4).
    for url in (settings.queue_url, settings.ollama_host, settings.openai_base_url):
        if url:
            redact.register(*redisguard.url_secrets(url))
    redis_url = settings.redis_url
    if redis_url:
        redisguard.enforce([redisguard.check_url(redis_url, insecure_ok=settings.redis_insecure)])
    master = seal.master_key(settings)
    try:
        store = open_store(db=settings.db, redis_url=redis_url, sync=settings.db_sync, key=seal.derive(master, "job"))
        queue = Queue(db=settings.db, redis_url=redis_url, sync=settings.db_sync, key=seal.derive(master, "queue"))
    except Exception as exc:
        target = redisguard.display_url(redis_url) if redis_url else str(settings.db)
        raise ConfigError(
            redact.redact(f"The job store/queue at {target} cannot be opened: {type(exc).__name__}: {exc}"),
            hint="Check EQUITR_DB (a writable file path) or EQUITR_QUEUE_URL (a reachable redis:// URL).",
        ) from None
    if isinstance(store, RedisStore):
        try:
            redisguard.enforce(redisguard.check_persistence(store.redis, volatile_ok=settings.allow_volatile_redis))
        except ConfigError:
            queue.close()
            store.close()
            raise
    return Services(settings=settings, store=store, queue=queue, access=GitHubAccess.from_settings(settings))


def session_factory(services: Services, session: aiohttp.ClientSession) -> GitHubFactory:
    async def github(installation_id: int | None) -> GitHubAPI:
        return await services.access.api(session, installation_id, scope=WEBHOOK)

    return github

"""Wiring: from one `Settings` to the store, queue, GitHub access, dispatcher and runner.

The only place that knows which concrete adapters go together; everything else takes them as arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from gidgethub.abc import GitHubAPI

from bot import redact
from bot.dispatch import Dispatcher, GitHubFactory
from bot.errors import ConfigError
from bot.github.access import GitHubAccess
from bot.permissions import Permissions
from bot.queue import Queue, bind
from bot.runner import Handler, Runner
from bot.settings import Settings
from bot.store import JobStore, open_store, process_owner
from bot.triggers import Identity

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
            inline_writes=self.settings.db_sync == "normal" and self.settings.redis_url is None,
        )

    def runner(self, handlers: dict[str, Handler] | None = None) -> Runner:
        if handlers is None:
            from bot.work.handlers import WorkEnv
            from bot.work.handlers import handlers as work_handlers

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
            permissions=self.permissions,
        )

    def bind_worker(self, runner: Runner) -> None:
        # Load the price catalogue now, so that choosing a model inside a job stays under a millisecond.
        from bot.models.manager import ModelManager

        ModelManager().warm()
        bind(run_job=runner.execute, notify=runner.notify, sweep=lambda: (runner.sweep(), None)[1])

    def health(self) -> dict[str, Any]:
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
    try:
        store = open_store(db=settings.db, redis_url=settings.redis_url, sync=settings.db_sync)
        queue = Queue(db=settings.db, redis_url=settings.redis_url)
    except Exception as exc:
        target = settings.redis_url or str(settings.db)
        raise ConfigError(
            f"The job store/queue at {target} cannot be opened: {exc}",
            hint="Check EQUITR_DB (a writable file path) or EQUITR_QUEUE_URL (a reachable redis:// URL).",
        ) from None
    return Services(settings=settings, store=store, queue=queue, access=GitHubAccess.from_settings(settings))


def session_factory(services: Services, session: aiohttp.ClientSession) -> GitHubFactory:
    async def github(installation_id: int | None) -> GitHubAPI:
        return await services.access.api(session, installation_id)

    return github

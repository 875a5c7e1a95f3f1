"""`equitr doctor`: check what equitr needs and say, for each problem, what to do about it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace

from equitr.config.settings import Settings
from equitr.errors import ConfigError, EquitrError, GitHubError
from equitr.jobs.redisguard import Finding, Status


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report; the Redis checks' findings become lines under a name."""

    name: str
    status: Status
    message: str
    fix: str = ""

    @classmethod
    def of(cls, name: str, found: Finding) -> Check:
        return cls(name, found.status, found.message, found.fix)


async def run_checks() -> list[Check]:
    from equitr.config import settings as settings_mod

    try:
        settings = settings_mod.load()
    except ConfigError as exc:
        return [Check("settings", "fail", exc.message, exc.hint or "")]
    checks = [Check("settings", "ok", f"loaded (mode: {settings.mode})"), _user()]
    try:
        settings.require_server()
        checks.append(Check("webhook server", "ok", "GH_SECRET and GitHub credentials are set"))
    except ConfigError as exc:
        status: Status = "warn" if settings.mode == "local" else "fail"
        checks.append(Check("webhook server", status, exc.message, exc.hint or ""))
    checks.append(await _github(settings))
    checks.extend(_queue(settings))
    checks.extend(await _models(settings))
    checks.extend(_tools(settings))
    checks.append(_setup_network(settings))
    checks.append(_dashboard(settings))
    return checks


def _user() -> Check:
    """equitr as root: bubblewrap maps the sandbox's user back to root, so whatever a command of the repository
    can see of the host it sees with root's rights; and a compromise of equitr is one of the host."""
    if os.geteuid() == 0:
        return Check(
            "user",
            "warn",
            "equitr runs as root: the sandbox's user maps back to root, and anything that escapes equitr owns "
            "the host",
            "run equitr as an unprivileged user of its own (docs/security.md#what-a-deployer-must-do)",
        )
    return Check("user", "ok", f"equitr runs as an unprivileged user (uid {os.geteuid()})")


def _setup_network(settings: Settings) -> Check:
    """How a repository's `fix.setup_command` would reach the network (equitr.sandbox.netns)."""
    from equitr.errors import SandboxError
    from equitr.sandbox.netns import choose

    if settings.sandbox == "none":
        return Check("setup network", "warn", "EQUITR_SANDBOX=none: setup commands share the host's network")
    if settings.setup_network == "host":
        return Check(
            "setup network",
            "warn",
            "EQUITR_SETUP_NETWORK=host: setup commands reach the host's loopback, abstract sockets and metadata "
            "endpoint",
            "install slirp4netns and unset EQUITR_SETUP_NETWORK",
        )
    try:
        helper = choose(settings.setup_network)
    except SandboxError as exc:
        return Check("setup network", "warn", f"{exc.message} Setup commands will be refused.", exc.hint or "")
    return Check("setup network", "ok", f"setup commands get a network namespace of their own through {helper}")


def _dashboard(settings: Settings) -> Check:
    """Whether `equitr serve` serves the dashboard, and to whom (a warning is not a failure: it is optional)."""
    from equitr.web.dashboard import check_config, config_from

    auth = config_from(settings)
    if not auth.any:
        return Check(
            "dashboard",
            "ok",
            "off (no sign-in configured)",
            "to turn it on: EQUITR_DASHBOARD_TOKEN, or GH_CLIENT_ID and GH_CLIENT_SECRET (docs/dashboard.md)",
        )
    try:
        check_config(auth, host=settings.host)
    except ConfigError as exc:
        return Check("dashboard", "fail", exc.message, exc.hint or "")
    ways = [w for w, on in (("token", bool(auth.token)), ("GitHub sign-in", auth.github)) if on]
    return Check("dashboard", "ok", f"/dashboard with {' and '.join(ways)}")


async def _models(settings: Settings) -> list[Check]:
    from equitr.models.manager import ModelManager, choose_model

    supervisor, embedded = choose_model(settings.supervisor_model)
    worker = settings.worker_model or supervisor
    manager = ModelManager.from_settings(settings)
    out = []
    for role, name in (("supervisor", supervisor), ("worker", worker)):
        if role == "worker" and name == supervisor:
            continue
        found = await manager.check_availability(name, refresh=True)
        label = f"model ({role}{', embedded default' if embedded and role == 'supervisor' else ''})"
        out.append(
            Check(
                label,
                "ok" if found.ok else "fail",
                f"{name}: {found.message}",
                "" if found.ok else "see `equitr models check NAME` and docs/models.md",
            )
        )
    return out


async def _github(settings: Settings) -> Check:
    import aiohttp

    from equitr.github.access import GitHubAccess

    if settings.mode == "local":
        return Check(
            "github",
            "warn",
            "no GitHub credentials (fine for `equitr run`)",
            "set GH_APP_ID + GH_PRIVATE_KEY + GH_SECRET for the App, or GITHUB_TOKEN",
        )
    access = GitHubAccess.from_settings(settings)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            if settings.mode == "app":
                from equitr.github.auth import app_jwt

                jwt = app_jwt(app_id=access.app_id or 0, private_key=settings.private_key())
                from gidgethub.aiohttp import GitHubAPI as PlainAPI

                app = await PlainAPI(session, "equitr", base_url=settings.github_api_url).getitem("/app", jwt=jwt)
                return Check("github", "ok", f"authenticated as App `{app.get('slug')}` at {settings.github_api_url}")
            gh = await access.api(session, None)
            gh.policy = replace(gh.policy, tries=2)  # a check answers in seconds; a job would wait longer
            limit = await gh.getitem("/rate_limit")
            remaining = (limit.get("resources") or {}).get("core", {}).get("remaining")
            return Check("github", "ok", f"token accepted at {settings.github_api_url} ({remaining} calls left)")
    except EquitrError as exc:
        return Check("github", "fail", exc.message, _github_fix(exc))
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Check(
            "github",
            "fail",
            f"cannot reach {settings.github_api_url}: {type(exc).__name__} {exc}",
            "check the network, or GITHUB_API_URL for GitHub Enterprise Server",
        )
    except Exception as exc:  # gidgethub raises its own tree for 4xx/5xx
        return Check(
            "github",
            "fail",
            f"GitHub refused the credentials: {exc}",
            "check GH_APP_ID / the private key / GITHUB_TOKEN",
        )


def _github_fix(error: EquitrError) -> str:
    """What an operator running `doctor` does about a GitHub failure (an error's own hint may speak to
    someone commenting on an issue, which is not who reads this)."""
    status = error.status if isinstance(error, GitHubError) else None
    if isinstance(error, GitHubError) and status is None:
        return "check the network, or GITHUB_API_URL for GitHub Enterprise Server"
    if status == 401:
        return "check GH_APP_ID and the private key (App), or GITHUB_TOKEN"
    if error.kind == "rate-limited":
        return "wait for the rate limit to reset, then run `equitr doctor` again"
    if status == 403:
        return "check the permissions of the token, or of the App's installation"
    if status is not None and status >= 500:
        return "GitHub may be having trouble (https://www.githubstatus.com); run `equitr doctor` again later"
    return "check GITHUB_API_URL and the credentials"


def _queue(settings: Settings) -> list[Check]:
    """The store and queue open, and with Redis: a password, persistence and no eviction."""
    from equitr.jobs import redisguard
    from equitr.jobs.store.redis import RedisStore
    from equitr.redact import redact
    from equitr.web.services import build

    out: list[Check] = []
    url = settings.redis_url
    url_says_password = False  # then ask the server whether it means it
    if url:
        found = redisguard.check_url(url, insecure_ok=settings.redis_insecure)
        url_says_password = found.status == "ok"
        out.append(Check.of("redis auth", found))
        if found.status == "fail":
            return out
    try:
        services = build(settings)
        try:
            if isinstance(services.store, RedisStore):
                served = redisguard.check_server_auth(url or "") if url_says_password else None
                if served is not None:
                    out.append(Check.of("redis auth", served))
                for found in redisguard.check_persistence(services.store.redis, volatile_ok=True):
                    out.append(Check.of("redis persistence", found))
            pending = services.queue.pending()
            jobs = len(services.store.jobs(limit=1000))
        finally:
            services.close()
    except EquitrError as exc:
        return [*out, Check("queue", "fail", exc.message, exc.hint or "")]
    except Exception as exc:
        return [
            *out,
            Check("queue", "fail", redact(f"{type(exc).__name__}: {exc}"), "check EQUITR_DB / EQUITR_QUEUE_URL"),
        ]
    where = redisguard.display_url(url) if url else str(settings.db)
    out.append(
        Check("queue", "ok", f"{'redis' if url else 'sqlite'} at {where}: {pending} pending, {jobs} jobs recorded")
    )
    return out


def _tools(settings: Settings) -> list[Check]:
    from equitr.sandbox import binaries

    git = shutil.which("git")
    out = [Check("git", "ok" if git else "fail", git or "not found (needed for checkouts and commits)",
                 "" if git else "apt-get install git")]  # fmt: skip
    rg = binaries.rg()
    out.append(
        Check("rg", "ok", rg.describe())
        if rg.path
        else Check("rg", "fail", f"{rg.describe()}; needed for the search tool", "reinstall equitr (it brings ripgrep)")
    )
    if settings.sandbox == "none":
        out.append(
            Check(
                "sandbox",
                "warn",
                "EQUITR_SANDBOX=none: commands run WITHOUT a sandbox",
                "unset EQUITR_SANDBOX (bubblewrap comes with equitr)",
            )
        )
        return out
    bwrap = binaries.bwrap()
    if bwrap.path is not None:
        out.append(Check("sandbox", "ok", f"bubblewrap works: {bwrap.describe()}"))
    elif any(not note.endswith(": not installed") for note in bwrap.passed_over):
        out.append(
            Check(
                "sandbox",
                "fail",
                f"{bwrap.problem('bubblewrap')}; equitr will refuse to run commands",
                "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
                "or run equitr where bwrap works",
            )
        )
    else:
        out.append(
            Check(
                "sandbox",
                "fail",
                "bubblewrap (bwrap) not found; equitr will refuse to run commands",
                "reinstall equitr (it brings bubblewrap), or apt-get install bubblewrap",
            )
        )
    return out

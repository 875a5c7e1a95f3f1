"""The dashboard's HTTP side: a Starlette app mounted at `/dashboard` (by `equitr serve` and `equitr dashboard`).

Every page is rendered on the server with Jinja2 (autoescape on: model output is hostile input); the only
scripts are files under `static/` (uPlot, vendored, and charts.js), and the Content-Security-Policy allows
nothing else: no inline script or style, no request to another origin. Store reads run in a thread, so a slow
store never stalls the webhook server sharing the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from equitr import redact
from equitr.errors import BadFilter, SignInFailed
from equitr.jobs.model import Job
from equitr.jobs.store import JobStore
from equitr.jobs.store.query import JobChoices, JobQuery
from equitr.text.money import usd
from equitr.web.dashboard import data
from equitr.web.dashboard.auth import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    STATE_COOKIE,
    STATE_TTL_S,
    AuthConfig,
    Session,
    Sessions,
    Throttle,
    authorize_url,
    github_identity,
    token_matches,
)

HERE = Path(__file__).resolve().parent
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the OAuth callback's code never leaks through a Referer
    "X-Frame-Options": "DENY",
}
MAX_FORM_BYTES = 4096
CHART_DAYS = 30
MAX_JOBS = 100_000  # jobs the charts read at most (the 30 days' window)
MAX_RECORDS = 2_000  # monitor records read for the charts at most (newest first)
CHART_CACHE_S = 30.0
MAX_JOB_ID = 2**63 - 1  # SQLite's largest integer: a longer number in the URL is no job, not an error


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = lambda v: usd(float(v or 0), places=4)
    env.filters["when"] = data.when
    env.filters["seconds"] = lambda v: data.seconds(float(v or 0))
    env.filters["redact"] = lambda v: redact.redact(str(v)) if v else ""
    env.filters["pct"] = lambda v: f"{float(v) * 100:.1f}%"
    return env


def create_dashboard(store: JobStore, config: AuthConfig) -> Starlette:
    """The dashboard app; mount it at `/dashboard`."""
    env = _environment()
    sessions = Sessions()
    throttle = Throttle()
    # The charts read up to MAX_RECORDS records: kept a little while per set of visible repositories.
    charts_cache: TTLCache[frozenset[str] | None, dict[str, Any]] = TTLCache(maxsize=64, ttl=CHART_CACHE_S)

    def base(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" or bool(config.public_url and config.public_url.startswith("https:"))

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        page = env.get_template(name).render(
            base=base(request),
            config=config,
            session=context.pop("session", None),
            **context,
        )
        return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    def redirect(request: Request, path: str) -> RedirectResponse:
        return RedirectResponse(base(request) + path, status_code=303, headers=SECURITY_HEADERS)

    def current(request: Request) -> Session | None:
        if config.no_auth and not config.token and not config.github:
            return Session("local", None, time.time() + SESSION_TTL_S, "local")
        return sessions.get(request.cookies.get(SESSION_COOKIE))

    def signed_in(
        handler: Callable[[Request, Session], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = current(request)
            if session is None:
                return redirect(request, "/login")
            return await handler(request, session)

        return guarded

    def start_session(request: Request, response: Response, who: str, repos: frozenset[str] | None) -> Response:
        """`response` with the cookie of a new session for `who`."""
        response.set_cookie(
            SESSION_COOKIE,
            sessions.start(who, repos),
            max_age=int(SESSION_TTL_S),
            path=base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        return response

    # -- sign-in ---------------------------------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        return render(request, "login.html", error="")  # never text from the URL: a link could say anything

    async def login_token(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if throttle.blocked(client):
            return render(request, "login.html", status=429, error="Too many wrong tokens; try again in 10 minutes.")
        form = await _form(request)
        if form is None or not config.token or not token_matches(config, form.get("token", "")):
            throttle.failed(client)
            return render(request, "login.html", status=401, error="That token is not the dashboard's token.")
        return start_session(request, redirect(request, "/"), "token", None)

    async def logout(request: Request) -> Response:
        session = current(request)
        form = await _form(request)
        if session is not None and form is not None and secrets.compare_digest(form.get("csrf", ""), session.csrf):
            sessions.end(request.cookies.get(SESSION_COOKIE))
        response = redirect(request, "/login")
        response.delete_cookie(SESSION_COOKIE, path=base(request) or "/")
        return response

    def callback_url(request: Request) -> str:
        if config.public_url:
            return f"{config.public_url}/auth/github/callback"
        return str(request.url.replace(query="", fragment="")).rsplit("/auth/github", 1)[0] + "/auth/github/callback"

    async def github_start(request: Request) -> Response:
        if not config.github:
            return render(request, "login.html", status=404, error="GitHub sign-in is not configured.")
        state = secrets.token_urlsafe(24)
        response = RedirectResponse(
            authorize_url(config, state=state, redirect_uri=callback_url(request)),
            status_code=303,
            headers=SECURITY_HEADERS,
        )
        # Lax, not Strict: the browser comes back to the callback from GitHub's site, a cross-site navigation.
        response.set_cookie(
            STATE_COOKIE,
            sessions.sign(state),
            max_age=STATE_TTL_S,
            path=(base(request) or "") + "/auth/github",
            httponly=True,
            samesite="lax",
            secure=secure(request),
        )
        return response

    async def github_callback(request: Request) -> Response:
        if not config.github:
            return render(request, "login.html", status=404, error="GitHub sign-in is not configured.")
        expected = sessions.unsign(request.cookies.get(STATE_COOKIE))
        state = request.query_params.get("state", "")
        code = request.query_params.get("code", "")
        if not expected or not state or not secrets.compare_digest(expected, state):
            return render(request, "login.html", status=400, error="The sign-in expired or was not started here.")
        if not code:
            return render(request, "login.html", status=400, error="GitHub did not complete the sign-in.")
        try:
            login, repos = await github_identity(config, code=code, redirect_uri=callback_url(request))
        except SignInFailed as exc:
            return render(request, "login.html", status=502, error=str(exc))
        # A page of our own that moves on to the dashboard: a redirect straight from the cross-site callback
        # would be cross-site too, and the browser would hold back the SameSite=Strict cookie.
        page = render(request, "signed_in.html", login=login, count=len(repos))
        response = start_session(request, page, f"github:{login}", repos)
        response.delete_cookie(STATE_COOKIE, path=(base(request) or "") + "/auth/github")
        return response

    # -- pages -----------------------------------------------------------------------------------------------

    async def jobs_page(request: Request, session: Session) -> Response:
        error, page, found = "", None, JobChoices()
        try:
            wanted = data.JobFilter.parse(dict(request.query_params))
        except BadFilter as exc:  # the page says what is wrong with the filter, and lists nothing
            wanted, error = data.JobFilter(), str(exc)
        else:
            page, found = await asyncio.to_thread(list_page, wanted, session.repos)
        return render(
            request,
            "jobs.html",
            status=400 if error else 200,
            session=session,
            page=page,
            filter=wanted,
            choices=data.choices(found),
            urlencode=urllib.parse.urlencode,
            error=error,
        )

    async def job_page(request: Request, session: Session) -> Response:
        job_id = int(request.path_params["job_id"])
        job = await asyncio.to_thread(store.get, job_id) if job_id <= MAX_JOB_ID else None
        if job is None or not session.may_see(job.repo):
            # The same answer for "no such job" and "not yours": a job's existence is not shown either.
            return render(request, "missing.html", status=404, session=session)
        record = await asyncio.to_thread(store.record, job.id)
        return render(
            request,
            "job.html",
            session=session,
            job=job,
            record=record,
            phases=data.job_phase_seconds(job),
            links=_links(config, job),
        )

    def list_page(wanted: data.JobFilter, repos: frozenset[str] | None) -> tuple[data.Page, JobChoices]:
        """The list's page and the filters' choices for someone who may see `repos` (None: all), from the store's
        own query (only the page's jobs are read); runs in a thread."""
        query = wanted.store_query(repos)
        found = store.find_jobs(query)
        pages = data.page_count(found.total)
        if wanted.page > pages:  # a page past the end shows the last one
            found = store.find_jobs(replace(query, offset=(pages - 1) * data.PAGE_SIZE))
        return data.Page(found.jobs, min(wanted.page, pages), pages, found.total), store.job_choices(repos)

    def chart_context(repos: frozenset[str] | None) -> dict[str, Any]:
        """The charts' data for someone who may see `repos` (None: all); runs in a thread."""
        since = time.time() - CHART_DAYS * data.DAY_S
        recent = store.find_jobs(JobQuery(visible=repos, since=since, limit=MAX_JOBS)).jobs  # the window's only
        if repos is not None:
            # Per repository, so that other repositories' newer records do not crowd theirs out of the limit.
            pairs = [p for name in sorted({j.repo for j in recent}) for p in store.records(since=since, repo=name)]
        else:
            pairs = store.records(since=since, limit=MAX_RECORDS)
        records = {job.id: record for job, record in pairs if repos is None or job.repo.lower() in repos}
        return {
            "cost_by_repo": data.series_by_day((j.created_at, j.repo, j.cost_usd) for j in recent),
            "cost_by_model": data.cost_by_model(records.values()),
            "rates": data.model_rates(records.values()),
            "phases": data.phase_table(data.durations((j, records.get(j.id)) for j in recent)),
        }

    async def charts_page(request: Request, session: Session) -> Response:
        context = charts_cache.get(session.repos)
        if context is None:
            context = await asyncio.to_thread(chart_context, session.repos)
            charts_cache[session.repos] = context
        return render(request, "charts.html", session=session, days=CHART_DAYS, **context)

    routes = [
        Route("/", signed_in(jobs_page), methods=["GET"], name="jobs"),
        Route("/jobs/{job_id:int}", signed_in(job_page), methods=["GET"], name="job"),
        Route("/charts", signed_in(charts_page), methods=["GET"], name="charts"),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_token, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/auth/github", github_start, methods=["GET"]),
        Route("/auth/github/callback", github_callback, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_HeadersMiddleware)
    return app


class _HeadersMiddleware:
    """The security headers on every answer, static files and 404s included."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = list(message.get("headers", [])) + [e for e in extra if e[0] not in have]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form, or None when the body is something else or too large."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        parsed = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in parsed.items() if v}


def _links(config: AuthConfig, job: Job) -> dict[str, str]:
    """Links built from the job's own repository and number (never from stored text, which could say
    `javascript:`)."""
    repo = "/".join(urllib.parse.quote(part, safe="") for part in job.repo.split("/", 1))
    return {"issue": f"{config.server_url}/{repo}/issues/{int(job.number)}"}

"""The web dashboard in a real browser: Playwright driving the system's Chromium (the Debian `chromium`
package; never `playwright install`) against real `equitr dashboard` and `equitr serve` processes on loopback.

GitHub sign-in goes through the fake GitHub (tests/fakes/github.py), which serves the App's OAuth pages and
the user API (`/user`, `/user/installations/…/repositories`) on loopback; `GITHUB_SERVER_URL` and
`GITHUB_API_URL` point there. The jobs' monitor records are written with the monitor's own types
(tests/fakes/dashboard_data.py); the `equitr serve` test runs a scripted job (`/equitr help`) through the app.

Screenshots of the main pages, at a desktop and a phone viewport, are written to docs/dashboard/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.jobs.store.sqlite import SqliteStore
from tests.conftest import SECRET, comment_payload, free_port, headers
from tests.fakes.dashboard_data import HOSTILE, PRIVATE_MARKER, PRIVATE_REPO, PUBLIC_REPO, Seeded, seed
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e .[dev])"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium: install the Debian `chromium` package (.ci/run does)"
    ),
]

TOKEN = "dashboard-token-0123456789abcdef"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "dashboard"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "EQUITR_"))}
    env.update(extra)
    return env


class Process:
    """An `equitr …` process serving HTTP on a free loopback port."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready: str) -> None:
        self.port = free_port()
        self.args = [a.replace("{port}", str(self.port)) for a in args]
        self.env = env
        self.log = log
        self.ready = ready
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "equitr", *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    async with session.get(self.url + self.ready, allow_redirects=False) as r:
                        if r.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"equitr {self.args[0]} did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@dataclass
class Watch:
    """Everything that went wrong in a page: console errors, script errors, failed requests, dialogs."""

    problems: list[str] = field(default_factory=list)
    allowed_status: set[int] = field(default_factory=set)

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and r.status not in self.allowed_status
                else None
            ),
        )
        page.on("dialog", lambda d: self.problems.append(f"dialog (injected script ran!): {d.message}"))

    def _failed(self, request: Any) -> None:
        # ERR_ABORTED: the test moved on to the next page while this one still loaded (its favicon); a file that
        # is missing shows as an HTTP error above, a blocked one (CSP) as a console error.
        if "ERR_ABORTED" not in str(request.failure):
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _console(self, message: Any) -> None:
        expected = any(f"status of {status} " in message.text for status in self.allowed_status)
        if message.type == "error" and not expected:  # a refusal this test asks for is logged as an error too
            self.problems.append(f"console {message.type}: {message.text}")

    def check(self) -> None:
        assert self.problems == []


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Setup:
    dashboard: Process
    fake: FakeGitHub
    seeded: Seeded


@pytest.fixture
async def dashboard(tmp_path: Path, fake_github: FakeGitHub) -> AsyncIterator[Setup]:
    db = tmp_path / "equitr.db"
    store = SqliteStore(db)
    try:
        seeded = seed(store)
    finally:
        store.close()
    fake_github.add_repo(PUBLIC_REPO)
    fake_github.add_repo(PRIVATE_REPO, private=True)
    fake_github.add_installation(7, repos=[PUBLIC_REPO, PRIVATE_REPO])
    fake_github.set_permission(PUBLIC_REPO, "alice", "write")
    fake_github.set_permission(PUBLIC_REPO, "bob", "write")
    fake_github.set_permission(PRIVATE_REPO, "bob", "maintain")
    fake_github.set_permission(PUBLIC_REPO, "carol", "read")
    env = clean_env(
        EQUITR_DASHBOARD_TOKEN=TOKEN,
        GH_CLIENT_ID=fake_github.oauth_client_id,
        GH_CLIENT_SECRET=fake_github.oauth_client_secret,
        GITHUB_SERVER_URL=fake_github.base_url,
        GITHUB_API_URL=fake_github.base_url,
    )
    proc = Process(
        ["dashboard", "--db", str(db), "--port", "{port}"], env, tmp_path / "dashboard.log", "/dashboard/login"
    )
    await proc.start()
    try:
        yield Setup(proc, fake_github, seeded)
    finally:
        proc.stop()
        assert "Traceback" not in proc.log.read_text()


async def sign_in_with_token(page: Any, base: str) -> None:
    await page.goto(f"{base}/dashboard/login")
    await page.fill("#token", TOKEN)
    await page.click("text=Sign in with the token")
    await page.wait_for_url(f"{base}/dashboard/")


async def shoot(page: Any, name: str, size: dict[str, int]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size(size)
    await page.evaluate("window.scrollTo(0, 0)")  # the top of the page, whatever the test clicked last
    await page.wait_for_timeout(150)  # the charts redraw at the new width (a debounced resize)
    suffix = "phone" if size is PHONE else "desktop"
    await page.screenshot(path=str(SHOTS / f"{name}-{suffix}.png"))


# -- sign-in -----------------------------------------------------------------------------------------------


async def test_sign_in_is_refused_without_credentials(dashboard: Setup, browser: Any) -> None:
    base = dashboard.dashboard.url
    page = await browser.new_page(viewport=DESKTOP)
    watch = Watch(allowed_status={400, 401, 404})
    watch.attach(page)
    # Every page sends a stranger to the sign-in form, and shows nothing of the jobs.
    for path in ("/dashboard/", "/dashboard/charts", f"/dashboard/jobs/{dashboard.seeded.public_job}"):
        await page.goto(base + path)
        assert page.url == f"{base}/dashboard/login"
        assert PUBLIC_REPO not in await page.content()
    await shoot(page, "login", DESKTOP)
    await page.fill("#token", "not-the-token-but-long-enough")
    await page.click("text=Sign in with the token")
    assert "not the dashboard's token" in await page.inner_text("[role=alert]")
    await page.goto(f"{base}/dashboard/")
    assert page.url == f"{base}/dashboard/login"
    # A GitHub callback that this browser did not start (no state cookie, or another state) is refused.
    await page.goto(f"{base}/dashboard/auth/github/callback?code=x&state=forged")
    assert "expired or was not started here" in await page.inner_text("[role=alert]")
    await page.goto(f"{base}/dashboard/")
    assert page.url == f"{base}/dashboard/login"
    # Someone who denies the sign-in on GitHub is not signed in either.
    dashboard.fake.sign_in_as(None)
    await page.goto(f"{base}/dashboard/login")
    await page.click("#github-sign-in")
    await page.goto(f"{base}/dashboard/")
    assert page.url == f"{base}/dashboard/login"
    watch.check()


# -- pages ---------------------------------------------------------------------------------------------------


async def test_jobs_list_job_page_and_charts_with_the_token(dashboard: Setup, browser: Any) -> None:
    base, seeded = dashboard.dashboard.url, dashboard.seeded
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await sign_in_with_token(page, base)
    cookie = next(c for c in await context.cookies() if c["name"] == "equitr_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    rows = page.locator("table.jobs tbody tr")
    assert await rows.count() == len(seeded.all_jobs)
    listed = await page.inner_text("table.jobs")
    assert f"{PUBLIC_REPO}#11" in listed and f"{PRIVATE_REPO}#3" in listed  # the token sees every repository
    await shoot(page, "jobs", DESKTOP)
    await shoot(page, "jobs", PHONE)
    await page.set_viewport_size(DESKTOP)

    # Filters: by state, then by repository and kind; a bad date is a message, not an error page.
    await page.select_option("select[name=state]", "failed")
    await page.click("text=Filter")
    assert await rows.count() == 1
    assert "the tests still fail" in await rows.first.inner_text()
    await page.goto(f"{base}/dashboard/?repo={PUBLIC_REPO}&kind=fix")
    assert await rows.count() == 2
    watch.allowed_status.add(400)
    await page.goto(f"{base}/dashboard/?since=yesterday")
    assert "2026-01-31" in await page.inner_text("[role=alert]")
    watch.allowed_status.discard(400)

    # A job's page: trajectory, cost table, tests, diff; hostile model output shown as text, never run.
    await page.goto(f"{base}/dashboard/")
    await page.click(f"table.jobs a[href='/dashboard/jobs/{seeded.public_job}']")
    await page.wait_for_url(f"{base}/dashboard/jobs/{seeded.public_job}")
    trajectory = page.locator("table.trajectory tbody tr")
    assert await trajectory.count() == 3
    assert HOSTILE in await trajectory.first.inner_text()  # the markup as text
    assert await page.locator("main script, main img").count() == 0  # and not as elements
    costs = await page.inner_text("table.costs")
    assert "supervisor" in costs and "reviewer" in costs and "$0.0123" in costs
    assert "fence" in await page.inner_text("main")
    assert "+import os" in await page.inner_text("pre.diff")
    await page.click("text=Model calls (4)")  # folded by default: a <details>, no script
    assert "trailing_comma" in await page.inner_text("table.calls")
    await page.click("text=GitHub calls (2)")
    assert "/repos/{owner}/{repo}/issues/{issue_number}/comments" in await page.inner_text("table.github")
    hrefs = await page.eval_on_selector_all("main a", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if h and h.strip().lower().startswith("javascript:")]
    await shoot(page, "job", DESKTOP)
    await shoot(page, "job", PHONE)
    await page.set_viewport_size(DESKTOP)

    # The charts draw (uPlot, vendored) with no console error and no failed request.
    await page.click("header nav >> text=Charts")
    await page.wait_for_url(f"{base}/dashboard/charts")
    await page.wait_for_selector("#phase-durations[data-drawn='1'] canvas")
    for chart in ("cost-by-repo", "cost-by-model", "phase-durations"):
        assert await page.locator(f"#{chart} canvas").count() == 1, chart
    rates = await page.inner_text("table.rates")
    assert "ollama/qwen2.5-coder:7b" in rates and "100.0%" in rates  # the fallback model's every call fell back
    phases = await page.inner_text("table.phases")
    assert "queue_wait" in phases and "tests_after" in phases
    await shoot(page, "charts", DESKTOP)
    await shoot(page, "charts", PHONE)

    # Signing out ends the session on the server too.
    await page.set_viewport_size(DESKTOP)
    await page.click("text=Sign out")
    await page.wait_for_url(f"{base}/dashboard/login")
    await page.goto(f"{base}/dashboard/")
    assert page.url == f"{base}/dashboard/login"
    watch.check()


async def test_static_answers_carry_the_csp(dashboard: Setup) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/dashboard/login", "/dashboard/static/uplot.min.js", "/dashboard/nothing-here"):
            async with http.get(dashboard.dashboard.url + path, allow_redirects=False) as r:
                assert r.headers["content-security-policy"].startswith("default-src 'self'"), path
                assert r.headers["x-content-type-options"] == "nosniff"


# -- GitHub sign-in ------------------------------------------------------------------------------------------


async def github_sign_in(browser: Any, setup: Setup, login: str) -> tuple[Any, Watch]:
    setup.fake.sign_in_as(login)
    page = await browser.new_page(viewport=DESKTOP)
    watch = Watch(allowed_status={404})
    watch.attach(page)
    base = setup.dashboard.url
    await page.goto(f"{base}/dashboard/login")
    await page.click("#github-sign-in")
    await page.wait_for_url(f"{base}/dashboard/")
    assert login in await page.inner_text("header")
    return page, watch


async def test_github_sign_in_shows_only_the_repositories_one_can_push_to(dashboard: Setup, browser: Any) -> None:
    base, seeded = dashboard.dashboard.url, dashboard.seeded
    # alice can push to octo/app only: she never sees the private repository's jobs, nor that they exist.
    page, watch = await github_sign_in(browser, dashboard, "alice")
    listed = await page.inner_text("main")
    assert f"{PUBLIC_REPO}#11" in listed
    assert PRIVATE_REPO not in await page.content()
    await page.goto(f"{base}/dashboard/?repo={PRIVATE_REPO}")
    assert await page.locator("table.jobs tbody tr a").count() == 0
    await page.goto(f"{base}/dashboard/jobs/{seeded.private_job}")
    assert "No such job" in await page.inner_text("main")
    await page.goto(f"{base}/dashboard/jobs/{10_000}")  # the same answer as a job that does not exist
    assert "No such job" in await page.inner_text("main")
    await page.goto(f"{base}/dashboard/charts")
    await page.wait_for_selector("#cost-by-repo[data-drawn='1'] canvas")
    charts = await page.content()
    assert PRIVATE_REPO not in charts and PRIVATE_MARKER not in charts
    watch.check()
    # The user token was used at sign-in and is not what the browser holds.
    minted = [t for t in dashboard.fake.tokens if t.startswith("ghu_")]
    cookies = await page.context.cookies()
    assert minted and not any(t in c["value"] for t in minted for c in cookies)

    # carol can only read octo/app: she sees no job at all.
    page, watch = await github_sign_in(browser, dashboard, "carol")
    assert await page.locator("table.jobs tbody tr a").count() == 0
    watch.check()

    # bob maintains the private repository: he sees its job and its page.
    page, watch = await github_sign_in(browser, dashboard, "bob")
    assert f"{PRIVATE_REPO}#3" in await page.inner_text("table.jobs")
    await page.goto(f"{base}/dashboard/jobs/{seeded.private_job}")
    assert PRIVATE_MARKER in await page.inner_text("main")
    watch.check()
    calls = {c.operation_id for c in dashboard.fake.calls if c.operation_id}
    assert {"users/get-authenticated", "apps/list-installation-repos-for-authenticated-user"} <= calls


# -- equitr serve: a scripted run, then the dashboard ----------------------------------------------------------


async def test_equitr_serve_lists_a_job_it_just_ran(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey, browser: Any
) -> None:
    repo = "octo/repo"
    fake_github.add_repo(repo)
    fake_github.add_installation(7, repos=[repo])
    fake_github.add_issue(repo, title="Crash on start", user="alice")
    fake_github.set_permission(repo, "alice", "write")
    made = fake_github.add_comment(repo, 1, "/equitr help", user="alice")
    env = clean_env(
        GH_APP_ID=str(github_app_key.app_id),
        GH_PRIVATE_KEY=github_app_key.pem.get_secret_value(),
        GH_SECRET=SECRET,
        GITHUB_API_URL=fake_github.base_url,
        EQUITR_DB=str(tmp_path / "equitr.db"),
        EQUITR_WORKERS="1",
        EQUITR_DASHBOARD_TOKEN=TOKEN,
    )
    server = Process(["serve", "--port", "{port}"], env, tmp_path / "serve.log", "/healthz")
    await server.start()
    try:
        body = json.dumps(comment_payload(repo, number=1, comment_id=made["id"], body="/equitr help")).encode()
        async with (
            aiohttp.ClientSession() as http,
            http.post(server.url + "/webhook", data=body, headers=headers(body, "issue_comment", "dash-1")) as r,
        ):
            assert r.status == 202
            job_id = (await r.json())["jobs"][0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            store = SqliteStore(tmp_path / "equitr.db")
            job = store.get(job_id)
            store.close()
            if job is not None and job.state == "done":
                break
            await asyncio.sleep(0.2)
        page = await browser.new_page(viewport=DESKTOP)
        watch = Watch()
        watch.attach(page)
        await sign_in_with_token(page, server.url)
        row = page.locator("table.jobs tbody tr").first
        assert f"{repo}#1" in await row.inner_text() and "done" in await row.inner_text()
        await page.click(f"a[href='/dashboard/jobs/{job_id}']")
        assert "help" in await page.inner_text("dl.facts")
        watch.check()
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


# -- start-up refusals (no browser needed) --------------------------------------------------------------------


def run_dashboard(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "equitr.db"
    SqliteStore(db).close()
    return subprocess.run(
        [sys.executable, "-m", "equitr", "dashboard", "--db", str(db), "--port", str(free_port()), *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dashboard_refuses_to_start_without_sign_in(tmp_path: Path) -> None:
    done = run_dashboard(tmp_path)
    assert done.returncode == 1
    assert "no sign-in configured" in done.stderr and "--no-auth" in done.stderr
    done = run_dashboard(tmp_path, "--no-auth", "--host", "0.0.0.0")
    assert done.returncode == 1 and "only allowed on a loopback address" in done.stderr
    done = run_dashboard(tmp_path, EQUITR_DASHBOARD_TOKEN="short")
    assert done.returncode == 1 and "shorter than 16" in done.stderr
    done = run_dashboard(tmp_path, GH_CLIENT_ID="Iv1.only-the-id")
    assert done.returncode == 1 and "GH_CLIENT_SECRET" in done.stderr
    assert "Traceback" not in done.stderr


async def test_no_auth_serves_on_loopback_only_and_serve_without_sign_in_has_no_dashboard(tmp_path: Path) -> None:
    from equitr.web.app import create_app
    from equitr.web.asgi import call

    db = tmp_path / "equitr.db"
    SqliteStore(db).close()
    local = Process(
        ["dashboard", "--db", str(db), "--port", "{port}", "--no-auth"], clean_env(), tmp_path / "d.log", "/"
    )
    await local.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(local.url + "/dashboard/", allow_redirects=False) as r:
            assert r.status == 200 and "No jobs match" in await r.text()
    finally:
        local.stop()
    # equitr serve's app without a dashboard: /dashboard says what to set, and shows nothing.
    app = create_app(dispatcher=None, secret=SECRET)  # type: ignore[arg-type]
    status, answer = await call(app, "GET", "/dashboard/")
    assert status == 403 and "EQUITR_DASHBOARD_TOKEN" in answer["status"]

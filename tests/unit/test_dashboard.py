"""The dashboard's pure parts: filters, pagination, chart series, percentiles, rates, sessions and the start-up
checks. The pages themselves are tested in a browser (tests/integration/test_dashboard_browser.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from equitr.errors import BadFilter, ConfigError
from equitr.jobs.model import Job
from equitr.monitor.records import JobRecord, ModelCall, Phase
from equitr.web.dashboard import data
from equitr.web.dashboard.auth import MAX_FAILURES, AuthConfig, Sessions, Throttle, check_config, is_loopback


def job(i: int, *, repo: str = "octo/app", kind: str = "fix", state: str = "done", day: str = "2026-03-02") -> Job:
    created = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() + 3600
    return Job(
        id=i,
        kind=kind,
        repo=repo,
        number=i,
        requester="a",
        delivery_id=str(i),
        state=state,  # type: ignore[arg-type]
        created_at=created,
        started_at=created + 5,
        finished_at=created + 65,
        cost_usd=0.01 * i,
    )


def call(model: str, *, repairs: tuple[str, ...] = (), fallback: bool = False, at: float = 0.0) -> ModelCall:
    return ModelCall(model, "worker", 10, 5, 0.5, 1.0, 1, "text", repairs, fallback, at)


def test_filter_by_repository_kind_state_and_inclusive_dates() -> None:
    jobs = [job(1), job(2, repo="Octo/Other"), job(3, kind="plan", state="failed", day="2026-03-05")]
    wanted = data.JobFilter.parse({"repo": "octo/other"})
    assert [j.id for j in jobs if wanted.matches(j)] == [2]  # repository names compare case-insensitively
    wanted = data.JobFilter.parse({"kind": "plan", "state": "failed"})
    assert [j.id for j in jobs if wanted.matches(j)] == [3]
    wanted = data.JobFilter.parse({"since": "2026-03-02", "until": "2026-03-02"})
    assert [j.id for j in jobs if wanted.matches(j)] == [1, 2]
    assert data.JobFilter.parse({"state": "done", "page": "2"}).query(page=3) == {"state": "done", "page": "3"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "2026-01-31"),
        ({"until": "2026-02-30"}, "2026-01-31"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"state": "exploded"}, "state must be one of"),
    ],
)
def test_bad_filters_are_one_clear_message(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadFilter, match=message):
        data.JobFilter.parse(query)


def test_pages_of_fifty_and_a_page_past_the_end_shows_the_last() -> None:
    jobs = [job(i) for i in range(1, 121)]
    page = data.paginate(jobs, 2)
    assert (page.number, page.pages, page.total, page.items[0].id, len(page.items)) == (2, 3, 120, 51, 50)
    assert data.paginate(jobs, 9).number == 3
    assert data.paginate([], 1).pages == 1


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (data.percentile(values, 50), data.percentile(values, 99), data.percentile(values, 100)) == (50, 99, 100)
    assert data.percentile([], 50) == 0.0
    assert data.percentile([7.0], 99) == 7.0


def test_series_fill_every_day_and_fold_the_smallest_labels_into_other() -> None:
    day = 86400.0
    items = [(0.0, "a", 1.0), (2 * day + 5, "a", 2.0), (day, "b", 0.5), (day, "c", 0.1), (day, "d", 0.05)]
    series = data.series_by_day(items, top=2)
    assert series["x"] == [0.0, day, 2 * day]  # the day without cost for "a" is there, at 0
    assert series["series"] == [
        {"label": "a", "values": [1.0, 0.0, 2.0]},
        {"label": "b", "values": [0.0, 0.5, 0.0]},
        {"label": "other", "values": [0.0, 0.15, 0.0]},
    ]
    assert data.series_by_day([]) == {"x": [], "series": []}


def test_repair_and_fallback_rates_per_model() -> None:
    records = [
        JobRecord(1, model_calls=[call("m1", repairs=("fence",)), call("m1"), call("m2", fallback=True)]),
        JobRecord(2, model_calls=[call("m1", repairs=("prose", "fence"))]),
    ]
    rates = {r["model"]: r for r in data.model_rates(records)}
    assert rates["m1"]["calls"] == 3 and rates["m1"]["repair_rate"] == pytest.approx(2 / 3)
    assert rates["m1"]["fallback_rate"] == 0 and rates["m1"]["retries"] == 3
    assert rates["m2"]["fallback_rate"] == 1.0


def test_phase_durations_prefer_the_record_and_fall_back_to_the_job_row() -> None:
    with_record = (job(1), JobRecord(1, phases=[Phase("queue_wait", 0, 2.0), Phase("step", 0, 3.0, "1")]))
    without = (job(2), None)
    durations = data.durations([with_record, without])
    assert sorted(durations["queue_wait"]) == [2.0, 5.0]  # the record's 2 s, the other job's row: 5 s
    assert durations["step"] == [3.0]
    assert durations["run"] == [60.0, 60.0]
    table = data.phase_table(durations)
    assert [row["phase"] for row in table] == ["queue_wait", "step", "run"]


def test_session_cookies_are_signed_and_end_on_sign_out() -> None:
    sessions = Sessions()
    cookie = sessions.start("github:alice", frozenset({"octo/app"}))
    session = sessions.get(cookie)
    assert session is not None and session.may_see("Octo/App") and not session.may_see("octo/other")
    sid, _, mac = cookie.rpartition(".")
    assert sessions.get(f"{sid}.{'0' * len(mac)}") is None  # a forged signature
    assert sessions.get(sid) is None and sessions.get("") is None and sessions.get(None) is None
    assert Sessions().get(cookie) is None  # another process's (or a restarted one's) sessions
    sessions.end(cookie)
    assert sessions.get(cookie) is None


def test_start_up_checks() -> None:
    with pytest.raises(ConfigError, match="no sign-in configured"):
        check_config(AuthConfig(), host="127.0.0.1")
    with pytest.raises(ConfigError, match="loopback"):
        check_config(AuthConfig(no_auth=True), host="0.0.0.0")
    with pytest.raises(ConfigError, match="shorter than 16"):
        check_config(AuthConfig(token="hunter2"), host="127.0.0.1")
    with pytest.raises(ConfigError, match="both GH_CLIENT_ID and GH_CLIENT_SECRET"):
        check_config(AuthConfig(client_id="Iv1.x"), host="127.0.0.1")
    check_config(AuthConfig(no_auth=True), host="::1")
    check_config(AuthConfig(token="x" * 16), host="0.0.0.0")
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_wrong_tokens_are_throttled_per_client() -> None:
    throttle = Throttle()
    for _ in range(MAX_FAILURES):
        assert not throttle.blocked("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.blocked("10.0.0.1") and not throttle.blocked("10.0.0.2")


async def test_pages_over_a_redis_store(redis_url: str) -> None:
    """The same pages from the Redis store (the scale-out setup), in-process."""
    import httpx

    from equitr.jobs.store.redis import RedisStore
    from equitr.web.dashboard import create_dashboard
    from tests.fakes.dashboard_data import HOSTILE, PUBLIC_REPO, seed

    store = RedisStore(redis_url, prefix=f"test:{time.monotonic_ns()}:")
    seeded = seed(store)
    app = create_dashboard(store, AuthConfig(token="t" * 20))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/")).status_code == 303
        signed = await http.post("/login", data={"token": "t" * 20})
        assert signed.status_code == 303 and "samesite=strict" in signed.headers["set-cookie"].lower()
        listed = await http.get("/")
        assert listed.status_code == 200 and f"{PUBLIC_REPO}#11" in listed.text
        page = await http.get(f"/jobs/{seeded.public_job}")
        assert page.status_code == 200 and "replaced the hard-coded port" in page.text
        assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
        charts = await http.get("/charts")
        assert charts.status_code == 200 and "ollama/qwen2.5-coder:7b" in charts.text
        assert (await http.get("/?until=31/01/2026")).status_code == 400
    store.close()


async def test_bad_addresses_are_4xx_and_the_sign_in_page_shows_no_text_from_the_url(tmp_path: Path) -> None:
    import httpx

    from equitr.jobs.store.sqlite import SqliteStore
    from equitr.web.dashboard import create_dashboard

    store = SqliteStore(tmp_path / "equitr.db")
    app = create_dashboard(store, AuthConfig(token="t" * 20))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        page = await http.get("/login", params={"error": "Your token expired: mail it to evil@example.org"})
        assert page.status_code == 200 and "evil@example.org" not in page.text
        await http.post("/login", data={"token": "t" * 20})
        for path in ("/jobs/99999999999999999999999", "/jobs/0", "/jobs/abc", "/?page=99999999"):
            answer = await http.get(path)
            assert 400 <= answer.status_code < 500 or answer.status_code == 200, (path, answer.status_code)
        assert (await http.get("/jobs/99999999999999999999999")).status_code == 404
        bad_form = await http.post("/login", content=b"\xff" * 10, headers={"content-type": "text/plain"})
        assert bad_form.status_code == 401
    store.close()


async def test_github_identity_pages_through_repositories_and_skips_a_lost_installation(fake_github: Any) -> None:
    """The sign-in's GitHub side against the fake: every page of repositories, only those one can push to,
    an installation answering 404 skipped rather than failing the sign-in, and a wrong code refused."""
    from equitr.errors import SignInFailed
    from equitr.web.dashboard.auth import github_identity

    fake = fake_github
    names = [f"octo/r{i:03d}" for i in range(130)]  # two pages of 100
    for name in [*names, "octo/lost"]:
        fake.add_repo(name)
    fake.add_installation(7, repos=names)
    fake.add_installation(8, repos=["octo/lost"])
    for name in names:
        fake.set_permission(name, "alice", "write" if name != "octo/r005" else "triage")
    fake.set_permission("octo/lost", "alice", "admin")
    fake.fail_next("GET", "/user/installations/8/repositories", status=404)
    fake.sign_in_as("alice")
    config = AuthConfig(
        client_id=fake.oauth_client_id,
        client_secret=fake.oauth_client_secret,
        server_url=fake.base_url,
        api_url=fake.base_url,
    )
    code = await authorize(fake, "http://127.0.0.1:1/cb")
    login, repos = await github_identity(config, code=code, redirect_uri="http://127.0.0.1:1/cb")
    assert login == "alice"
    assert repos == frozenset(n for n in names if n != "octo/r005")  # triage cannot push; octo/lost answered 404
    assert len(fake.calls_to("GET", "/user/installations/7/repositories")) == 2
    with pytest.raises(SignInFailed, match="bad_verification_code"):
        await github_identity(config, code=code, redirect_uri="http://127.0.0.1:1/cb")  # used already


async def authorize(fake: Any, redirect_uri: str) -> str:
    import aiohttp

    query = {"client_id": fake.oauth_client_id, "redirect_uri": redirect_uri, "state": "s"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.base_url}/login/oauth/authorize", params=query, allow_redirects=False) as r,
    ):
        location = r.headers["Location"]
    return location.split("code=", 1)[1].split("&", 1)[0]


@pytest.mark.parametrize(
    ("env", "web"),
    [
        ({}, "https://github.com"),
        ({"GITHUB_API_URL": "https://ghe.example.org/api/v3"}, "https://ghe.example.org"),
        (
            {"GITHUB_API_URL": "https://ghe.example.org/api/v3", "GITHUB_SERVER_URL": "https://sso.example.org/"},
            "https://sso.example.org",
        ),
    ],
)
def test_githubs_web_address_follows_the_api_unless_set(
    env: dict[str, str], web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from equitr.config.settings import Settings
    from equitr.web.dashboard import config_from

    for name in ("GITHUB_API_URL", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config_from(Settings()).server_url == web

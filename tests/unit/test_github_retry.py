"""The retry layer around gidgethub, against the fake GitHub over real loopback HTTP (sleeps recorded)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from http import HTTPStatus

import aiohttp
import gidgethub
import pytest
from prometheus_client.registry import CollectorRegistry

from equitr.errors import GitHubError
from equitr.errors.render import format_error
from equitr.errors.retry import GITHUB
from equitr.github.retry import OUTSIDE_JOBS, RetryingGitHubAPI, _explain, retry_delay
from equitr.monitor.records import PerformanceMonitor
from tests.fakes.github import FakeGitHub

TOKEN = "ghp_retrytesttoken"
NOW = 1_750_000_000.0
REPO = "/repos/octo/repo"


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.clock = lambda: NOW
    fake_github.add_repo("octo/repo")
    fake_github.add_token(TOKEN)
    fake_github.add_issue("octo/repo", title="An issue")
    return fake_github


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def gh(fake: FakeGitHub, sleeps: Sleeps) -> AsyncIterator[RetryingGitHubAPI]:
    async with aiohttp.ClientSession() as session:
        yield RetryingGitHubAPI(
            session,
            "equitr-tests",
            oauth_token=TOKEN,
            base_url=fake.base_url,
            policy=replace(GITHUB, tries=4, base_s=1.0, cap_s=8.0, max_wait_s=120.0),
            sleep=sleeps,
            clock=lambda: NOW,
            random=lambda: 0.5,
        )


def statuses(fake: FakeGitHub, method: str, path: str) -> list[int]:
    return [call.status for call in fake.calls_to(method, path)]


async def test_retry_after_is_honoured(fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps) -> None:
    fake.fail_next("GET", REPO, status=429, headers={"retry-after": "1"}, times=2)
    assert (await gh.getitem(REPO))["full_name"] == "octo/repo"
    assert sleeps == [1.0, 1.0]
    assert statuses(fake, "GET", REPO) == [429, 429, 200]


async def test_primary_rate_limit_waits_for_the_reset(fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps) -> None:
    fake.rate_limit_next("GET", REPO, reset_in=30)
    await gh.getitem(REPO)
    assert sleeps == [31.0]  # until x-ratelimit-reset, plus a second of margin
    assert statuses(fake, "GET", REPO) == [403, 200]


async def test_a_reset_too_far_away_gives_up_with_a_clear_error(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    fake.rate_limit_next("GET", REPO, reset_in=3600)
    with pytest.raises(GitHubError, match="rate limit") as caught:
        await gh.getitem(REPO)
    assert caught.value.status == 403 and "resets at" in caught.value.message
    assert caught.value.kind == "rate-limited"
    from equitr.cli.checks import _github_fix  # what `equitr doctor` tells an operator about the same error

    assert _github_fix(caught.value).startswith("wait for the rate limit to reset")
    # The hint fits any reader (doctor, logs, a comment); the comment adds the recovery command.
    assert caught.value.hint and "wait for the limit to reset" in caught.value.hint
    assert "/equitr" not in caught.value.hint and "- `/equitr retry`" in format_error(caught.value)
    assert sleeps == [] and statuses(fake, "GET", REPO) == [403]


@pytest.mark.parametrize("status", [403, 429])
async def test_secondary_rate_limit_waits_a_minute_then_longer(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps, status: int
) -> None:
    gh.policy = replace(GITHUB, tries=4, max_wait_s=600.0)
    fake.secondary_rate_limit_next("POST", f"{REPO}/issues/1/comments", status=status, times=2)
    await gh.post(f"{REPO}/issues/1/comments", data={"body": "hello"})
    assert sleeps == [67.5, 135.0]  # a minute, then two, each spread by up to a quarter (random 0.5 here)
    assert len(fake.issue_comments("octo/repo", 1)) == 1


async def test_secondary_rate_limit_with_retry_after(fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps) -> None:
    fake.secondary_rate_limit_next("GET", REPO, retry_after=5)
    await gh.getitem(REPO)
    assert sleeps == [5.0]


async def test_server_errors_are_retried_a_bounded_number_of_times(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    fake.fail_next("GET", REPO, status=500, times=10)
    with pytest.raises(GitHubError, match="also after retrying") as caught:
        await gh.getitem(REPO)
    assert caught.value.status == 500
    assert statuses(fake, "GET", REPO) == [500, 500, 500, 500]  # tries = 4
    assert sleeps == [0.75, 1.5, 3.0]  # 1·2^(n-1), half fixed + half jitter (random = 0.5)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_then_success(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next("GET", REPO, status=status)
    await gh.getitem(REPO)
    assert statuses(fake, "GET", REPO) == [status, 200] and len(sleeps) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", f"{REPO}/issues/99", None, 404),
        ("POST", f"{REPO}/issues/1/comments", {"body": ""}, 422),
        ("PATCH", f"{REPO}/issues/comments/424242", {"body": "x"}, 404),
    ],
)
async def test_other_client_errors_are_final(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps, method: str, path: str, body: object, status: int
) -> None:
    with pytest.raises(GitHubError) as caught:
        if method == "GET":
            await gh.getitem(path)
        elif method == "POST":
            await gh.post(path, data=body)
        else:
            await gh.patch(path, data=body)
    assert caught.value.status == status
    assert len(fake.calls_to(method, path)) == 1 and sleeps == []


async def test_a_plain_403_is_final(fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps) -> None:
    fake.fail_next("GET", REPO, status=403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError, match="Resource not accessible") as caught:
        await gh.getitem(REPO)
    assert caught.value.status == 403 and sleeps == []


async def test_getstatus_reports_instead_of_raising(fake: FakeGitHub, gh: RetryingGitHubAPI) -> None:
    assert await gh.getstatus(f"{REPO}/issues/99") == 404
    assert await gh.getstatus(f"{REPO}/issues/1") == 200


async def test_a_dropped_connection_is_retried_for_reads(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    fake.fail_next("GET", REPO, disconnect=True, times=2)  # aiohttp retries a GET once by itself
    await gh.getitem(REPO)
    assert statuses(fake, "GET", REPO) == [-1, -1, 200] and sleeps == [0.75]


async def test_a_dropped_connection_is_not_retried_for_a_post(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    """GitHub may have created the comment before the connection broke: sending it again could duplicate it."""
    fake.fail_next("POST", f"{REPO}/issues/1/comments", disconnect=True)
    with pytest.raises(GitHubError, match="Could not reach GitHub"):
        await gh.post(f"{REPO}/issues/1/comments", data={"body": "once"})
    assert len(fake.calls_to("POST", f"{REPO}/issues/1/comments")) == 1 and sleeps == []


async def test_an_unreachable_server_is_retried_then_a_clear_error(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(
            session,
            "t",
            oauth_token="x",
            base_url=f"http://127.0.0.1:{port}",
            policy=replace(GITHUB, tries=3),
            sleep=sleeps,
            random=lambda: 0.0,
        )
        with pytest.raises(GitHubError, match=r"after 3 attempt\(s\)") as caught:
            await gh.post("/repos/octo/repo/issues/1/comments", data={"body": "x"})
    assert caught.value.hint and "GITHUB_API_URL" in caught.value.hint
    assert (caught.value.status, caught.value.kind) == (None, "network-error")
    assert sleeps == [0.5, 1.0]


def test_retry_delay_reads_http_dates_and_ignores_unrelated_answers() -> None:
    policy = GITHUB
    date = "Wed, 21 Oct 2015 07:28:30 GMT"
    assert retry_delay(503, {"Retry-After": date}, b"", attempt=1, policy=policy, now=1445412480.0) == 30.0
    assert retry_delay(200, {"retry-after": "5"}, b"", attempt=1, policy=policy, now=0) is None
    assert retry_delay(404, {}, b"{}", attempt=1, policy=policy, now=0) is None
    assert (
        retry_delay(403, {"x-ratelimit-remaining": "12"}, b'{"message": "Forbidden"}', attempt=1, policy=policy, now=0)
        is None
    )


async def test_every_failure_is_one_github_error_with_its_status(fake: FakeGitHub, gh: RetryingGitHubAPI) -> None:
    """One documented exception class, not one manufactured per gidgethub class: `.status`, `.kind`, and
    gidgethub's own exception as the cause."""
    with pytest.raises(GitHubError) as caught:
        await gh.getitem(f"{REPO}/contents/.equitr.toml")
    assert type(caught.value) is GitHubError and not isinstance(caught.value, gidgethub.GitHubException)
    assert (caught.value.status, caught.value.kind) == (404, "github-error")
    assert isinstance(caught.value.__cause__, gidgethub.BadRequest)
    assert str(caught.value) == f"GitHub answered 404 to GET {REPO}/contents/.equitr.toml: Not Found."
    fake.fail_next("GET", REPO, status=500, times=4)
    with pytest.raises(GitHubError) as broken:
        await gh.getitem(REPO)
    assert broken.value.status == 500 and isinstance(broken.value.__cause__, gidgethub.GitHubBroken)


async def test_every_try_goes_to_the_running_jobs_monitor(fake: FakeGitHub, gh: RetryingGitHubAPI) -> None:
    fake.fail_next("GET", f"{REPO}/issues/1", status=502)
    fake.fail_next("POST", f"{REPO}/issues/1/comments", disconnect=True)
    mon = PerformanceMonitor(1)
    with mon.active():
        await gh.getitem(f"{REPO}/issues/1")
        with pytest.raises(GitHubError):  # a POST without an answer is not sent again
            await gh.post(f"{REPO}/issues/1/comments", data={"body": "hi"})
    outside = CollectorRegistry()
    outside.register(OUTSIDE_JOBS)
    labels = {"method": "GET", "route": "/repos/{owner}/{repo}", "status": "200"}
    before = outside.get_sample_value("equitr_github_calls_outside_jobs_total", labels) or 0
    await gh.getitem(REPO)  # outside a job: only this process's counter
    assert outside.get_sample_value("equitr_github_calls_outside_jobs_total", labels) == before + 1
    calls = mon.record().github_calls
    assert [(c.method, c.route, c.status) for c in calls] == [
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 502),
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 200),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 0),  # 0: no answer
    ]
    assert calls[1].rate_remaining is not None and all(c.latency_s >= 0 for c in calls)


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_post_is_not_sent_again_after_an_ambiguous_answer(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps, status: int
) -> None:
    """GitHub may have created the comment before it failed to answer: `comments.upsert` looks first (R5)."""
    fake.fail_next("POST", f"{REPO}/issues/1/comments", status=status, after=True)
    with pytest.raises(GitHubError):
        await gh.post(f"{REPO}/issues/1/comments", data={"body": "once"})
    assert len(fake.calls_to("POST", f"{REPO}/issues/1/comments")) == 1 and sleeps == []
    assert [c["body"] for c in fake.issue_comments("octo/repo", 1)] == ["once"]


async def test_a_post_is_sent_again_after_a_503(fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps) -> None:
    fake.fail_next("POST", f"{REPO}/issues/1/comments", status=503)  # refused, not carried out
    await gh.post(f"{REPO}/issues/1/comments", data={"body": "once"})
    assert statuses(fake, "POST", f"{REPO}/issues/1/comments") == [503, 201]


async def test_a_hung_request_is_cut_at_the_timeout_retried_then_a_clear_error(
    fake: FakeGitHub, sleeps: Sleeps
) -> None:
    """aiohttp alone waits 300 s for an answer; each request gets EQUITR_GITHUB_TIMEOUT (R7)."""
    fake.hang_next("GET", REPO, seconds=5, times=2)
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(
            session,
            "equitr-tests",
            oauth_token=TOKEN,
            base_url=fake.base_url,
            policy=replace(GITHUB, tries=2, timeout_s=0.3),
            sleep=sleeps,
            random=lambda: 0.5,
        )
        with pytest.raises(GitHubError) as caught:
            await gh.getitem(REPO)
    assert "no answer within 0.3 s" in caught.value.message and "EQUITR_GITHUB_TIMEOUT" in (caught.value.hint or "")
    assert len(fake.calls_to("GET", REPO)) == 2 and len(sleeps) == 1


def test_secondary_limit_waits_are_spread_so_workers_do_not_return_together() -> None:
    """Two workers stopped by one secondary limit came back at the same second and tripped it again (R9)."""
    body = b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'
    waits = {
        retry_delay(403, {}, body, attempt=1, policy=GITHUB, now=NOW, rand=lambda r=r: r)
        for r in (0.0, 0.3, 0.9)
    }
    assert len(waits) == 3 and all(60.0 <= w <= 75.0 for w in waits)


async def test_a_primary_limit_past_the_longest_wait_says_when_it_resets(fake: FakeGitHub, sleeps: Sleeps) -> None:
    from equitr.config.fetch import fetch_config

    fake.rate_limit_next("GET", REPO, reset_in=2000)
    fake.rate_limit_next("GET", f"{REPO}/contents/.equitr.toml", reset_in=2000)
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(
            session,
            "equitr-tests",
            oauth_token=TOKEN,
            base_url=fake.base_url,
            policy=replace(GITHUB, max_wait_s=900),
            sleep=sleeps,
            clock=lambda: NOW,
        )
        with pytest.raises(GitHubError) as caught:
            await gh.getitem(REPO)
        assert "It resets at" in caught.value.message and ".." not in caught.value.message
        # A rate-limited read of .equitr.toml is a rate limit, not a missing `Contents: read` permission.
        with pytest.raises(GitHubError) as config:
            await fetch_config(gh, "octo/repo", "main")
    assert "rate limit" in config.value.message and "Contents" not in (config.value.hint or "")
    assert sleeps == []


async def test_a_long_rate_limit_wait_parks_a_job_that_asks_for_it(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    """Inside a parkable job (`PARK_AFTER_S` set) a wait longer than that raises Parked instead of sleeping."""
    from equitr.errors import Parked
    from equitr.github.retry import PARK_AFTER_S

    fake.secondary_rate_limit_next("GET", REPO, retry_after=30)
    token = PARK_AFTER_S.set(10.0)
    try:
        with pytest.raises(Parked) as caught:
            await gh.getitem(REPO)
    finally:
        PARK_AFTER_S.reset(token)
    assert caught.value.until == NOW + 30 and sleeps == []
    fake.secondary_rate_limit_next("GET", REPO, retry_after=5)  # shorter waits still happen in place
    token = PARK_AFTER_S.set(10.0)
    try:
        await gh.getitem(REPO)
    finally:
        PARK_AFTER_S.reset(token)
    assert sleeps == [5.0]


async def test_a_job_that_paid_for_a_model_waits_in_place_and_is_parked_only_past_the_longest_wait(
    fake: FakeGitHub, gh: RetryingGitHubAPI, sleeps: Sleeps
) -> None:
    """R9: once the job may not be parked (`MAY_PARK` says no: it paid for model work), a long wait happens in
    place, `ON_WAIT` told first (the status says so); a wait past `max_wait_s` reschedules it (Parked), never
    fails it."""
    from equitr.errors import Parked
    from equitr.github.retry import MAY_PARK, ON_WAIT, PARK_AFTER_S, without_waiting

    told: list[float] = []

    async def on_wait(seconds: float) -> None:
        told.append(seconds)

    tokens = (PARK_AFTER_S.set(10.0), MAY_PARK.set(lambda: False), ON_WAIT.set(on_wait))
    try:
        fake.secondary_rate_limit_next("GET", REPO, retry_after=30)
        await gh.getitem(REPO)
        assert sleeps == [30.0] and told == [30.0]
        fake.rate_limit_next("GET", REPO, reset_in=2000)  # past the policy's max_wait_s
        with pytest.raises(Parked) as caught:
            await gh.getitem(REPO)
        assert caught.value.until == NOW + 2001 and sleeps == [30.0]
        fake.secondary_rate_limit_next("GET", REPO, retry_after=30)
        with without_waiting(), pytest.raises(Parked):  # a best-effort write never waits
            await gh.getitem(REPO)
        assert sleeps == [30.0] and told == [30.0] and MAY_PARK.get() is not None
    finally:
        ON_WAIT.reset(tokens[2])
        MAY_PARK.reset(tokens[1])
        PARK_AFTER_S.reset(tokens[0])


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (
            401,
            "GitHub refused equitr's credentials for GET /repos/o/r (401: Bad credentials).",
            "check GH_APP_ID and the private key (App) or GITHUB_TOKEN; `equitr doctor` tests them",
        ),
        (
            403,
            "GitHub refused GET /repos/o/r (403: Bad credentials).",
            "the App may lack a permission it needs on this repository; check its installation settings",
        ),
        (
            502,
            "GitHub failed on GET /repos/o/r with 502 (Bad credentials), also after retrying.",
            "GitHub may be having trouble (https://www.githubstatus.com); try again later",
        ),
        (422, "GitHub answered 422 to GET /repos/o/r: Bad credentials.", None),
    ],
)
def test_each_refusal_says_what_github_meant_and_what_to_do(status: int, message: str, hint: str | None) -> None:
    error = _explain("GET", "/repos/o/r", gidgethub.HTTPException(HTTPStatus(status), "Bad credentials."), None)
    assert (str(error), error.hint, error.status) == (message, hint, status)

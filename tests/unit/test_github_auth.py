"""App JWTs and installation tokens, against the fake GitHub over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from pydantic import SecretStr

from equitr.errors import ConfigError, GitHubError
from equitr.github import InstallationTokens, app_api, app_jwt, installation_api
from equitr.github.access import GitHubAccess
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub

INSTALLATION = 77


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo("octo/repo")
    fake_github.add_installation(INSTALLATION, repos=["octo/repo"])
    fake_github.add_issue("octo/repo", title="Crash on start", user="alice")
    return fake_github


def tokens_for(fake: FakeGitHub, key: AppKey, **kwargs: object) -> InstallationTokens:
    return InstallationTokens(app_id=key.app_id, private_key=key.pem, base_url=fake.base_url, **kwargs)  # type: ignore[arg-type]


def test_app_jwt_claims(github_app_key: AppKey) -> None:
    token = app_jwt(app_id=github_app_key.app_id, private_key=github_app_key.pem, now=1_700_000_000)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, github_app_key.private_key.public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 + 540, "iss": str(github_app_key.app_id)}
    assert claims["exp"] - claims["iat"] <= 600
    with pytest.raises(ValueError, match="at most 600"):
        app_jwt(app_id=1, private_key=github_app_key.pem, lifetime_s=590)


def test_a_bad_private_key_is_a_config_error_that_does_not_quote_it() -> None:
    secret = "-----BEGIN " + "RSA PRIVATE KEY-----\nnot-really-a-key-XYZZY\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(ConfigError) as caught:
        app_jwt(app_id=1, private_key=SecretStr(secret))
    assert "XYZZY" not in str(caught.value) and "XYZZY" not in repr(caught.value.__cause__)
    assert caught.value.hint and "GH_PRIVATE_KEY" in caught.value.hint


async def test_token_is_minted_with_an_accepted_jwt_and_cached(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    first = await tokens.token(session, INSTALLATION)
    again = await tokens.token(session, INSTALLATION)
    assert first == again and first.startswith("ghs_")
    (mint,) = fake.calls_for("apps/create-installation-access-token")
    assert mint.path == f"/app/installations/{INSTALLATION}/access_tokens"
    assert mint.headers["authorization"].lower().startswith("bearer ")
    assert fake.minted[0].value == first and tokens.mints == 1
    assert "PRIVATE KEY" not in repr(tokens) and first not in repr(tokens)


async def test_token_is_refreshed_five_minutes_before_it_expires(
    github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    async with FakeGitHub(
        app_id=github_app_key.app_id, app_public_key=github_app_key.private_key.public_key(), clock=clock
    ) as fake:
        fake.add_repo("octo/repo")
        fake.add_installation(INSTALLATION, repos=["octo/repo"])
        tokens = tokens_for(fake, github_app_key, clock=clock)
        first = await tokens.token(session, INSTALLATION)
        expires_at = fake.minted[0].expires_at
        assert expires_at == pytest.approx(clock.now + 3600, abs=1)
        clock.now = expires_at - 301  # 5 min 1 s left: still good
        assert await tokens.token(session, INSTALLATION) == first
        clock.now = expires_at - 299  # less than 5 min left: a new one
        second = await tokens.token(session, INSTALLATION)
        assert second != first and tokens.mints == 2
        assert len(fake.calls_for("apps/create-installation-access-token")) == 2
        fake.assert_no_violations()  # the second JWT was minted on the moved clock and still accepted


async def test_concurrent_callers_share_one_mint(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    got = await asyncio.gather(*(tokens.token(session, INSTALLATION) for _ in range(20)))
    assert len(set(got)) == 1
    assert len(fake.calls_for("apps/create-installation-access-token")) == 1


async def test_a_token_minted_on_one_jobs_loop_serves_the_next_job(fake: FakeGitHub, github_app_key: AppKey) -> None:
    """A worker thread runs each job on an event loop of its own: the process's one token cache serves them
    all, so the second job reuses the first one's token (a cache per loop minted one for every job)."""
    access = GitHubAccess(base_url=fake.base_url, app_id=github_app_key.app_id, private_key=github_app_key.pem)

    async def job() -> str:
        async with aiohttp.ClientSession() as session:
            return await access.git_token(session, INSTALLATION)

    first = await asyncio.to_thread(lambda: asyncio.run(job()))
    second = await asyncio.to_thread(lambda: asyncio.run(job()))
    assert first == second
    assert len(fake.calls_for("apps/create-installation-access-token")) == 1


async def test_invalidate_only_forgets_the_token_it_names(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    first = await tokens.token(session, INSTALLATION)
    tokens.invalidate(INSTALLATION, token="ghs_some_older_token")
    assert await tokens.token(session, INSTALLATION) == first
    tokens.invalidate(INSTALLATION)
    assert await tokens.token(session, INSTALLATION) != first
    assert tokens.mints == 2


async def test_unknown_installation_is_a_clear_error(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(GitHubError, match="installation 999 was not found") as caught:
        await tokens_for(fake, github_app_key).token(session, 999)
    assert caught.value.status == 404
    assert len(fake.calls) == 1  # 404 is final


async def test_installation_api_acts_as_the_app_bot(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    gh = await installation_api(session, base_url=fake.base_url, installation_id=INSTALLATION, tokens=tokens)
    comment = await gh.post("/repos/octo/repo/issues/1/comments", data={"body": "On it"})
    assert (comment["user"]["login"], comment["user"]["type"]) == ("equitr[bot]", "Bot")
    (call,) = fake.calls_to("POST", "/repos/octo/repo/issues/1/comments")
    assert call.token == fake.minted[0].value
    assert call.headers["user-agent"] == "equitr" and "application/vnd.github" in call.headers["accept"]
    assert [c["body"] for c in fake.issue_comments("octo/repo", 1)] == ["On it"]


async def test_installation_api_from_app_id_and_key(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    gh = await installation_api(
        session,
        base_url=fake.base_url,
        installation_id=INSTALLATION,
        app_id=github_app_key.app_id,
        private_key=github_app_key.pem,
    )
    assert (await gh.getitem("/repos/octo/repo"))["full_name"] == "octo/repo"


async def test_a_401_mints_once_more_then_succeeds(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    gh = await installation_api(session, base_url=fake.base_url, installation_id=INSTALLATION, tokens=tokens)
    fake.expire_tokens()  # e.g. a job that ran past the hour, or a revoked token
    issue = await gh.getitem("/repos/octo/repo/issues/1")
    assert issue["number"] == 1
    assert [c.status for c in fake.calls_to("GET", "/repos/octo/repo/issues/1")] == [401, 200]
    assert tokens.mints == 2
    assert fake.calls_to("GET", "/repos/octo/repo/issues/1")[1].token == fake.minted[1].value
    await gh.getitem("/repos/octo/repo")  # later requests use the new token right away
    assert fake.calls_to("GET", "/repos/octo/repo")[0].status == 200


async def test_a_second_401_is_an_error(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession
) -> None:
    tokens = tokens_for(fake, github_app_key)
    gh = await installation_api(session, base_url=fake.base_url, installation_id=INSTALLATION, tokens=tokens)
    fake.fail_next("GET", "/repos/octo/repo/issues/1", status=401, times=5)
    with pytest.raises(GitHubError, match="refused equitr's credentials") as caught:
        await gh.getitem("/repos/octo/repo/issues/1")
    assert caught.value.status == 401
    assert len(fake.calls_to("GET", "/repos/octo/repo/issues/1")) == 2
    assert tokens.mints == 2


async def test_token_mode_never_remints(fake: FakeGitHub, session: aiohttp.ClientSession) -> None:
    fake.add_token("ghp_actiontoken", login="github-actions[bot]")
    gh = await installation_api(session, base_url=fake.base_url, token=SecretStr("ghp_actiontoken"))
    comment = await gh.post("/repos/octo/repo/issues/1/comments", data={"body": "From the Action"})
    assert comment["user"]["login"] == "github-actions[bot]"
    fake.fail_next("GET", "/repos/octo/repo", status=401)
    with pytest.raises(GitHubError) as caught:
        await gh.getitem("/repos/octo/repo")
    assert caught.value.status == 401 and len(fake.calls_to("GET", "/repos/octo/repo")) == 1
    assert fake.minted == []


async def test_no_credentials_is_a_config_error(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        await installation_api(session, token=SecretStr(""))


async def test_app_api_uses_a_jwt(fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession) -> None:
    gh = app_api(session, tokens=tokens_for(fake, github_app_key))
    assert (await gh.getitem("/app"))["slug"] == "equitr"
    assert (await gh.getitem("/repos/octo/repo/installation"))["id"] == INSTALLATION
    assert all(c.headers["authorization"].startswith("bearer ") for c in fake.calls)


async def test_secrets_stay_out_of_logs(
    fake: FakeGitHub, github_app_key: AppKey, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def no_sleep(seconds: float) -> None:
        pass

    tokens = tokens_for(fake, github_app_key)
    gh = await installation_api(
        session, base_url=fake.base_url, installation_id=INSTALLATION, tokens=tokens, sleep=no_sleep
    )
    fake.expire_tokens()
    fake.fail_next("GET", "/repos/octo/repo", status=502)
    await gh.getitem("/repos/octo/repo")
    logged = caplog.text
    assert caplog.records  # the retry and the re-mint are logged …
    for token in fake.minted:
        assert token.value not in logged  # … without the tokens
    assert "PRIVATE KEY" not in logged and "ghs_" not in repr(gh)

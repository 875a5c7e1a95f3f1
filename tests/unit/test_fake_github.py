"""The fake GitHub itself: it refuses what GitHub would refuse, and answers in GitHub's shapes."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub, diff_lines
from tests.fakes.openapi import load_spec
from tests.fakes.payloads import webhook_example, webhook_examples

TOKEN = "ghp_faketesttoken"
HEADERS = {
    "Authorization": f"token {TOKEN}",
    "Accept": "application/vnd.github+json",
    "User-Agent": "equitr-tests",
}
PATCH = "\n".join(
    [
        "@@ -1,4 +1,5 @@",
        " import os",
        "-import sys",
        "+import sys, json",
        "+import re",
        " ",
        " def main():",
        "@@ -20,3 +21,3 @@ def helper():",
        "     x = 1",
        "-    return x",
        "+    return x + 1",
    ]
)


@pytest.fixture
async def fake(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_repo("octo/repo")
    fake_github.add_token(TOKEN, login="octo-bot", type="Bot")
    return fake_github


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    fake: FakeGitHub,
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    async with http.request(
        method,
        fake.base_url + path,
        json=json,
        headers=HEADERS if headers is None else headers,
        params=params,
        skip_auto_headers=["User-Agent", "Accept"],
    ) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, response.headers


# -- the validator can fail ---------------------------------------------------------------------------------


async def test_unknown_path_is_refused_and_recorded(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    status, body, _ = await send(http, fake, "GET", "/repos/octo/repo/issue/1")
    assert status == 404 and body["message"] == "Not Found"
    assert fake.take_violations() == ["GET /repos/octo/repo/issue/1: no operation matches GET /repos/octo/repo/issue/1"]


async def test_wrong_method_is_refused(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_issue("octo/repo", title="t")
    status, _, _ = await send(http, fake, "POST", "/repos/octo/repo/issues/1", json={"title": "x"})
    assert status == 404
    (violation,) = fake.take_violations()
    assert "POST is not allowed" in violation and "allowed: GET" in violation


async def test_path_parameter_of_the_wrong_type_is_refused(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    # `issue_number` is an integer (`/issues/comments` became the repository-wide comment list, a real route).
    status, _, _ = await send(http, fake, "GET", "/repos/octo/repo/issues/first")
    assert status == 404
    assert len(fake.take_violations()) == 1


async def test_body_against_schema(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_pull("octo/repo", title="p", head="feature", files=[{"filename": "a.py", "patch": PATCH}])
    bad = {"event": "COMMENTED", "body": "x", "comments": [{"path": "a.py", "lines": 2, "body": "y"}]}
    status, body, _ = await send(http, fake, "POST", "/repos/octo/repo/pulls/2/reviews", json=bad)
    assert status == 422 and "Invalid request" in body["message"]
    violations = fake.take_violations()
    assert any("'COMMENTED' is not one of" in v for v in violations)
    assert any("'lines' was unexpected" in v for v in violations)  # a typo GitHub would silently ignore
    assert fake.pull_reviews("octo/repo", 2) == []


async def test_missing_required_body_field(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_issue("octo/repo", title="t")
    status, _, _ = await send(http, fake, "POST", "/repos/octo/repo/issues/1/comments", json={"text": "hi"})
    assert status == 422
    violations = fake.take_violations()
    assert any("'body' is a required property" in v for v in violations)


async def test_undeclared_and_mistyped_query_parameters(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    params = {"state": "opened", "per_page": "many", "label": "bug"}
    status, _, _ = await send(http, fake, "GET", "/repos/octo/repo/pulls", params=params)
    assert status == 422
    violations = "\n".join(fake.take_violations())
    assert "'opened' is not one of" in violations
    assert "'many' is not of type 'integer'" in violations
    assert "'label' is not declared" in violations


async def test_headers_are_required(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    no_auth = {"Accept": "application/vnd.github+json", "User-Agent": "x"}
    status, body, _ = await send(http, fake, "GET", "/repos/octo/repo", headers=no_auth)
    assert (status, body["message"]) == (401, "Requires authentication")
    assert fake.take_violations() == ["GET /repos/octo/repo: no Authorization header (Bearer/token)"]
    status, _, _ = await send(http, fake, "GET", "/repos/octo/repo", headers={"Authorization": f"token {TOKEN}"})
    assert status == 403
    assert sorted(fake.take_violations()) == [
        "GET /repos/octo/repo: missing accept header",
        "GET /repos/octo/repo: missing user-agent header",
    ]
    assert fake.calls[-1].headers["authorization"] == f"token {TOKEN}"


async def test_unknown_token_is_bad_credentials_not_a_violation(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    status, body, _ = await send(
        http, fake, "GET", "/repos/octo/repo", headers={**HEADERS, "Authorization": "token nope"}
    )
    assert (status, body["message"]) == (401, "Bad credentials")
    assert fake.violations == []


async def test_teardown_check_lists_violations() -> None:
    async with FakeGitHub() as fake, aiohttp.ClientSession() as http:
        await send(http, fake, "DELETE", "/repos/octo/repo")
        with pytest.raises(AssertionError, match=r"(?s)1 request\(s\) .*DELETE /repos/octo/repo"):
            fake.assert_no_violations()


def jwt_for(key: rsa.RSAPrivateKey, app_id: object, *, iat: float, exp: float) -> str:
    return jwt.encode({"iat": int(iat), "exp": int(exp), "iss": app_id}, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other-key", "could not be decoded"),
        ("wrong-iss", "'Issuer' claim"),
        ("too-long", "too far in the future"),
        ("expired", "'Expiration time' claim ('exp') must be"),
    ],
)
async def test_app_jwt_is_verified(
    fake: FakeGitHub, http: aiohttp.ClientSession, github_app_key: AppKey, case: str, message: str
) -> None:
    fake.add_installation(7, repos=["octo/repo"])
    now = time.time()
    key = github_app_key.private_key
    token = {
        "other-key": lambda: jwt_for(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            str(fake.app_id),
            iat=now - 60,
            exp=now + 500,
        ),
        "wrong-iss": lambda: jwt_for(key, "999", iat=now - 60, exp=now + 500),
        "too-long": lambda: jwt_for(key, str(fake.app_id), iat=now - 60, exp=now + 3600),
        "expired": lambda: jwt_for(key, str(fake.app_id), iat=now - 700, exp=now - 100),
    }[case]()
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    status, body, _ = await send(http, fake, "POST", "/app/installations/7/access_tokens", json={}, headers=headers)
    assert status == 401 and message in body["message"]
    (violation,) = fake.take_violations()
    assert "App JWT refused" in violation
    assert fake.minted == []


async def test_jwt_and_token_endpoints_are_not_interchangeable(
    fake: FakeGitHub, http: aiohttp.ClientSession, github_app_key: AppKey
) -> None:
    status, _, _ = await send(http, fake, "GET", "/app")
    assert status == 401
    assert "needs an App JWT" in fake.take_violations()[0]
    token = jwt_for(github_app_key.private_key, str(fake.app_id), iat=time.time() - 60, exp=time.time() + 500)
    status, _, _ = await send(
        http, fake, "GET", "/repos/octo/repo", headers={**HEADERS, "Authorization": f"Bearer {token}"}
    )
    assert status == 401
    assert "got a JWT" in fake.take_violations()[0]


async def test_response_shapes_are_checked_too(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.handlers["repos/get"] = lambda request: {"id": "not a number"}
    await send(http, fake, "GET", "/repos/octo/repo")
    violations = fake.take_violations()
    assert any("the fake's own 200 answer does not match" in v for v in violations)


# -- GitHub's behaviour, modelled ---------------------------------------------------------------------------


async def test_a_tour_of_every_operation_conforms(
    fake: FakeGitHub, http: aiohttp.ClientSession, github_app_key: AppKey
) -> None:
    """Every handler answers, and every answer matches the documented response schema (else teardown fails)."""
    fake.add_installation(7, repos=["octo/repo"])
    fake.set_file("octo/repo", ".equitr.toml", "[models]\n")
    fake.set_file("octo/repo", "src/app.py", "print('hi')\n")
    fake.set_permission("octo/repo", "alice", "write")
    issue = fake.add_issue("octo/repo", title="Crash", body="it crashes", labels=["equitr"], user="alice")
    comment = fake.add_comment("octo/repo", 1, "/equitr fix", user="alice")
    token = jwt_for(github_app_key.private_key, str(fake.app_id), iat=time.time() - 60, exp=time.time() + 500)
    as_app = {**HEADERS, "Authorization": f"Bearer {token}"}
    seen: set[str] = set()

    async def ok(method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        status, body, _ = await send(http, fake, method, path, **kwargs)
        assert status == expect, (method, path, status, body, fake.violations)
        seen.add(fake.calls[-1].operation_id or "")
        return body

    minted = await ok("POST", "/app/installations/7/access_tokens", 201, json={}, headers=as_app)
    assert minted["token"].startswith("ghs_") and minted["expires_at"].endswith("Z")
    assert (await ok("GET", "/app", headers=as_app))["slug"] == "equitr"
    assert (await ok("GET", "/repos/octo/repo/installation", headers=as_app))["id"] == 7
    assert (await ok("GET", "/repos/octo/repo"))["default_branch"] == "main"
    assert (await ok("GET", "/rate_limit"))["resources"]["core"]["limit"] == 5000
    permission = await ok("GET", "/repos/octo/repo/collaborators/alice/permission")
    assert (permission["permission"], permission["user"]["permissions"]["push"]) == ("write", True)
    content = await ok("GET", "/repos/octo/repo/contents/.equitr.toml")
    assert content["type"] == "file" and content["encoding"] == "base64"
    assert [e["name"] for e in await ok("GET", "/repos/octo/repo/contents/src")] == ["app.py"]
    branch = await ok("GET", "/repos/octo/repo/branches/main")
    assert (await ok("GET", f"/repos/octo/repo/commits/{branch['commit']['sha']}"))["sha"] == branch["commit"]["sha"]
    assert (await ok("GET", "/repos/octo/repo/issues/1"))["user"]["login"] == "alice"
    assert [i["number"] for i in await ok("GET", "/repos/octo/repo/issues", params={"labels": "equitr"})] == [1]
    assert [c["id"] for c in await ok("GET", "/repos/octo/repo/issues/1/comments")] == [comment["id"]]
    mine = await ok("POST", "/repos/octo/repo/issues/1/comments", 201, json={"body": "<!-- equitr:status:1 -->"})
    assert mine["user"]["login"] == "octo-bot" and mine["html_url"].endswith(f"#issuecomment-{mine['id']}")
    edited = await ok("PATCH", f"/repos/octo/repo/issues/comments/{mine['id']}", json={"body": "done"})
    assert edited["body"] == "done" and edited["id"] == mine["id"]
    assert (await ok("GET", f"/repos/octo/repo/issues/comments/{mine['id']}"))["body"] == "done"
    everywhere = await ok("GET", "/repos/octo/repo/issues/comments", params={"since": "2000-01-01T00:00:00Z"})
    assert [c["id"] for c in everywhere] == [comment["id"], mine["id"]]
    assert await ok("GET", "/repos/octo/repo/issues/comments", params={"since": "2999-01-01T00:00:00Z"}) == []
    await ok("POST", f"/repos/octo/repo/issues/comments/{comment['id']}/reactions", 201, json={"content": "eyes"})
    await ok("POST", f"/repos/octo/repo/issues/comments/{comment['id']}/reactions", 200, json={"content": "eyes"})
    assert fake.reactions_on_comment(comment["id"]) == ["eyes"]
    await ok("POST", "/repos/octo/repo/issues/1/reactions", 201, json={"content": "+1"})
    labels = await ok("POST", "/repos/octo/repo/issues/1/labels", json={"labels": ["bug"]})
    assert [label["name"] for label in labels] == ["equitr", "bug"]
    assert len(await ok("GET", "/repos/octo/repo/issues/1/labels")) == 2
    await ok("DELETE", "/repos/octo/repo/issues/1/labels/bug")
    events = await ok("GET", "/repos/octo/repo/issues/1/events")
    assert [(e["event"], e["label"]["name"], e["actor"]["login"]) for e in events] == [
        ("labeled", "equitr", "alice"),  # added with the issue, as an issue form does: by its author
        ("labeled", "bug", "octo-bot"),
        ("unlabeled", "bug", "octo-bot"),
    ]
    found = await ok("GET", "/search/issues", params={"q": "repo:octo/repo is:issue is:open label:equitr"})
    assert [i["number"] for i in found["items"]] == [issue["number"]]
    ref = await ok(
        "POST",
        "/repos/octo/repo/git/refs",
        201,
        json={"ref": "refs/heads/equitr/issue-1", "sha": branch["commit"]["sha"]},
    )
    assert ref["ref"] == "refs/heads/equitr/issue-1"
    assert (await ok("GET", "/repos/octo/repo/git/ref/heads/equitr/issue-1"))["object"]["sha"] == branch["commit"][
        "sha"
    ]
    await ok("PATCH", "/repos/octo/repo/git/refs/heads/equitr/issue-1", json={"sha": branch["commit"]["sha"]})
    pull = await ok(
        "POST",
        "/repos/octo/repo/pulls",
        201,
        json={"title": "Fix crash", "head": "equitr/issue-1", "base": "main", "body": "Fixes #1", "draft": True},
    )
    assert (pull["number"], pull["draft"], pull["head"]["ref"], pull["base"]["ref"]) == (
        2,
        True,
        "equitr/issue-1",
        "main",
    )
    assert pull["head"]["repo"]["full_name"] == "octo/repo" and pull["user"]["type"] == "Bot"
    listed = await ok("GET", "/repos/octo/repo/pulls", params={"head": "octo:equitr/issue-1", "state": "open"})
    assert [p["number"] for p in listed] == [2]
    await ok("PATCH", "/repos/octo/repo/pulls/2", json={"body": "Fixes #1, updated"})
    assert (await ok("GET", "/repos/octo/repo/pulls/2"))["body"] == "Fixes #1, updated"
    fake.set_pull_files("octo/repo", 2, [{"filename": "src/app.py", "patch": PATCH, "additions": 3, "deletions": 2}])
    assert [f["filename"] for f in await ok("GET", "/repos/octo/repo/pulls/2/files")] == ["src/app.py"]
    assert len(await ok("GET", "/repos/octo/repo/pulls/2/commits")) == 1
    requested = await ok("POST", "/repos/octo/repo/pulls/2/requested_reviewers", 201, json={"reviewers": ["alice"]})
    assert [u["login"] for u in requested["requested_reviewers"]] == ["alice"]
    review = await ok(
        "POST",
        "/repos/octo/repo/pulls/2/reviews",
        json={
            "event": "COMMENT",
            "body": "Looks fine",
            "comments": [{"path": "src/app.py", "line": 3, "side": "RIGHT", "body": "nit"}],
        },
    )
    assert review["state"] == "COMMENTED"
    assert [r["id"] for r in await ok("GET", "/repos/octo/repo/pulls/2/reviews")] == [review["id"]]
    await ok("PUT", f"/repos/octo/repo/pulls/2/reviews/{review['id']}", json={"body": "Looks fine (edited)"})
    (inline,) = await ok("GET", "/repos/octo/repo/pulls/2/comments")
    assert (inline["line"], inline["path"], inline["pull_request_review_id"]) == (3, "src/app.py", review["id"])
    await ok("POST", f"/repos/octo/repo/pulls/comments/{inline['id']}/reactions", 201, json={"content": "heart"})
    fake.set_compare("octo/repo", f"main...{pull['head']['sha']}", files=[])
    await ok("GET", f"/repos/octo/repo/compare/main...{pull['head']['sha']}")
    run = await ok("POST", "/repos/octo/repo/check-runs", 201, json={"name": "equitr", "head_sha": pull["head"]["sha"]})
    await ok("PATCH", f"/repos/octo/repo/check-runs/{run['id']}", json={"status": "completed", "conclusion": "success"})
    opened = await ok("POST", "/repos/octo/repo/issues", 201, json={"title": "equitr task: docs", "body": "b"})
    assert opened["title"] == "equitr task: docs" and opened["user"]["login"] == "octo-bot"
    assert (await ok("GET", f"/repos/octo/repo/issues/{opened['number']}"))["body"] == "b"
    as_user = {**HEADERS, "Authorization": f"Bearer {await user_token(fake, http, 'alice')}"}
    assert (await ok("GET", "/user", headers=as_user))["login"] == "alice"
    installations = await ok("GET", "/user/installations", headers=as_user)
    assert [i["id"] for i in installations["installations"]] == [7]
    repos = await ok("GET", "/user/installations/7/repositories", headers=as_user)
    assert [(r["full_name"], r["permissions"]["push"]) for r in repos["repositories"]] == [("octo/repo", True)]
    assert seen == {op.operation_id for op in load_spec().operations}
    fake.assert_no_violations()


async def user_token(fake: FakeGitHub, http: aiohttp.ClientSession, login: str) -> str:
    """A user token through the App's OAuth web flow, as a browser and a server would get one."""
    fake.sign_in_as(login)
    callback = "http://127.0.0.1:1/callback"
    query = {"client_id": fake.oauth_client_id, "redirect_uri": callback, "state": "s1"}
    async with http.get(f"{fake.base_url}/login/oauth/authorize", params=query, allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"].startswith(callback + "?")
        back = dict(urllib.parse.parse_qsl(r.headers["Location"].split("?", 1)[1]))
    assert back["state"] == "s1"
    form = {
        "client_id": fake.oauth_client_id,
        "client_secret": fake.oauth_client_secret,
        "code": back["code"],
        "redirect_uri": callback,
    }
    headers = {"Accept": "application/json"}
    async with http.post(f"{fake.base_url}/login/oauth/access_token", data=form, headers=headers) as r:
        token = str((await r.json())["access_token"])
    async with http.post(f"{fake.base_url}/login/oauth/access_token", data=form, headers=headers) as r:
        assert (await r.json())["error"] == "bad_verification_code"  # a code is good once
    return token


async def test_user_api_needs_a_user_token_and_lists_only_explicit_access(
    fake: FakeGitHub, http: aiohttp.ClientSession
) -> None:
    fake.add_repo("octo/secret", private=True)
    fake.add_installation(7, repos=["octo/repo", "octo/secret"])
    fake.set_permission("octo/repo", "carol", "read")
    fake.set_permission("octo/secret", "carol", "admin")
    status, _, _ = await send(http, fake, "GET", "/user/installations")  # an installation token
    assert status == 403
    as_carol = {**HEADERS, "Authorization": f"Bearer {await user_token(fake, http, 'carol')}"}
    _, body, _ = await send(http, fake, "GET", "/user/installations/7/repositories", headers=as_carol)
    pushes = {r["full_name"]: r["permissions"]["push"] for r in body["repositories"]}
    assert pushes == {"octo/repo": False, "octo/secret": True}
    as_dave = {**HEADERS, "Authorization": f"Bearer {await user_token(fake, http, 'dave')}"}
    _, body, _ = await send(http, fake, "GET", "/user/installations", headers=as_dave)
    assert body == {"total_count": 0, "installations": []}  # no explicit access anywhere
    fake.sign_in_as(None)
    query = {"client_id": fake.oauth_client_id, "redirect_uri": "http://127.0.0.1:1/cb", "state": "s"}
    async with http.get(f"{fake.base_url}/login/oauth/authorize", params=query, allow_redirects=False) as r:
        assert "error=access_denied" in r.headers["Location"]


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        ("none", "none"),
    ],
)
async def test_permission_levels_map_like_github(
    fake: FakeGitHub, http: aiohttp.ClientSession, role: str, permission: str
) -> None:
    fake.set_permission("octo/repo", "bob", role)
    status, body, _ = await send(http, fake, "GET", "/repos/octo/repo/collaborators/bob/permission")
    assert (status, body["permission"], body["role_name"]) == (200, permission, role)


async def test_permission_defaults(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_repo("octo/secret", private=True)
    fake.set_permission("octo/repo", "ghost", None)
    assert (await send(http, fake, "GET", "/repos/octo/repo/collaborators/stranger/permission"))[1][
        "permission"
    ] == "read"
    assert (await send(http, fake, "GET", "/repos/octo/secret/collaborators/stranger/permission"))[1][
        "permission"
    ] == "none"
    assert (await send(http, fake, "GET", "/repos/octo/repo/collaborators/ghost/permission"))[0] == 404


async def test_pagination_link_headers(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_issue("octo/repo", title="busy")
    for n in range(75):
        fake.add_comment("octo/repo", 1, f"comment {n}")
    status, first, headers = await send(
        http, fake, "GET", "/repos/octo/repo/issues/1/comments", params={"per_page": "30"}
    )
    assert status == 200 and len(first) == 30
    assert 'rel="next"' in headers["Link"] and "page=2" in headers["Link"] and 'page=3>; rel="last"' in headers["Link"]
    _, last, headers = await send(http, fake, "GET", "/repos/octo/repo/issues/1/comments", params={"page": "3"})
    assert [c["body"] for c in last] == [f"comment {n}" for n in range(60, 75)]
    assert 'rel="next"' not in headers["Link"] and 'rel="prev"' in headers["Link"]


async def test_review_comments_must_be_on_diff_lines(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.add_pull("octo/repo", title="p", head="feature", files=[{"filename": "a.py", "patch": PATCH}])
    for comment, error in [
        ({"path": "a.py", "line": 10, "body": "x"}, "Line could not be resolved"),
        ({"path": "b.py", "line": 3, "body": "x"}, "Path could not be resolved"),
        ({"path": "a.py", "line": 2, "side": "LEFT", "body": "x"}, None),
        ({"path": "a.py", "line": 22, "body": "x"}, None),
    ]:
        status, body, _ = await send(
            http,
            fake,
            "POST",
            "/repos/octo/repo/pulls/1/reviews",
            json={"event": "COMMENT", "body": "r", "comments": [comment]},
        )
        if error:
            assert (status, body["errors"]) == (422, [error])
        else:
            assert status == 200, body
    assert len(fake.pull_reviews("octo/repo", 1)) == 2


def test_diff_lines() -> None:
    lines = diff_lines(PATCH)
    assert set(lines["RIGHT"]) == {1, 2, 3, 4, 5, 21, 22}
    assert set(lines["LEFT"]) == {1, 2, 3, 4, 20, 21}
    assert lines["RIGHT"][3] == 4 and lines["LEFT"][2] == 2  # "+import re" is the 4th line under "@@"
    assert lines["RIGHT"][22] == 10 and max(lines["positions"]) == 10  # the 2nd "@@" counts as position 6


async def test_one_open_pull_per_head(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.set_branch("octo/repo", "equitr/issue-1", "a" * 40)
    pr = {"title": "t", "head": "equitr/issue-1", "base": "main"}
    assert (await send(http, fake, "POST", "/repos/octo/repo/pulls", json=pr))[0] == 201
    status, body, _ = await send(http, fake, "POST", "/repos/octo/repo/pulls", json=pr)
    assert status == 422 and "A pull request already exists for octo:equitr/issue-1." in body["errors"][0]["message"]
    status, body, _ = await send(http, fake, "POST", "/repos/octo/repo/pulls", json={**pr, "head": "missing"})
    assert status == 422 and body["errors"][0]["field"] == "head"


async def test_search_needs_a_kind_and_known_qualifiers(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    assert (await send(http, fake, "GET", "/search/issues", params={"q": "repo:octo/repo label:x"}))[0] == 422
    assert fake.violations == []
    assert (await send(http, fake, "GET", "/search/issues", params={"q": "is:issue linked:pr"}))[0] == 422
    assert "not modelled" in fake.take_violations()[0]


async def test_failures_can_be_injected(fake: FakeGitHub, http: aiohttp.ClientSession) -> None:
    fake.fail_next("GET", "/repos/octo/*", status=503, times=2)
    assert [(await send(http, fake, "GET", "/repos/octo/repo"))[0] for _ in range(3)] == [503, 503, 200]
    fake.rate_limit_next("GET", "/repos/octo/repo", reset_in=30)
    status, body, headers = await send(http, fake, "GET", "/repos/octo/repo")
    assert (status, headers["x-ratelimit-remaining"]) == (403, "0")
    assert int(headers["x-ratelimit-reset"]) >= int(time.time()) + 29
    fake.secondary_rate_limit_next("*", "/repos/octo/repo", retry_after=3)
    status, body, headers = await send(http, fake, "GET", "/repos/octo/repo")
    assert status == 403 and "secondary rate limit" in body["message"] and headers["retry-after"] == "3"
    fake.fail_next("GET", "/repos/octo/repo", disconnect=True, times=2)  # aiohttp itself retries a GET once
    with pytest.raises(aiohttp.ClientError):
        await send(http, fake, "GET", "/repos/octo/repo")
    assert [c.status for c in fake.calls_to("GET", "/repos/octo/repo")] == [503, 503, 200, 403, 403, -1, -1]


async def test_installation_tokens_expire(
    fake: FakeGitHub, http: aiohttp.ClientSession, github_app_key: AppKey
) -> None:
    fake.add_installation(7, repos=["octo/repo"])
    token = jwt_for(github_app_key.private_key, str(fake.app_id), iat=time.time() - 60, exp=time.time() + 500)
    _, minted, _ = await send(
        http,
        fake,
        "POST",
        "/app/installations/7/access_tokens",
        json={},
        headers={**HEADERS, "Authorization": f"Bearer {token}"},
    )
    as_installation = {**HEADERS, "Authorization": f"token {minted['token']}"}
    assert (await send(http, fake, "GET", "/repos/octo/repo", headers=as_installation))[0] == 200
    fake.add_repo("other/repo")
    assert (await send(http, fake, "GET", "/repos/other/repo", headers=as_installation))[0] == 404
    fake.expire_tokens()
    assert (await send(http, fake, "GET", "/repos/octo/repo", headers=as_installation))[0] == 401


def test_webhook_examples_are_all_vendored() -> None:
    examples = webhook_examples()
    assert len(examples) == 329
    assert len({e.event for e in examples}) == 58
    comment = webhook_example("issue_comment", "created").payload()
    assert comment["comment"]["body"] and comment["issue"]["number"]
    assert all(e.path.exists() for e in examples)

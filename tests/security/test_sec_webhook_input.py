"""W2c / W2d: malformed but correctly signed deliveries get a 4xx with a reason, never a 5xx.

Only someone holding the webhook secret can send these, but a 5xx says "our fault, redeliver later" and a
500 with a traceback in the log for input is a bug. Every delivery goes through the real app with a fake
GitHub that checks requests against GitHub's OpenAPI description.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from equitr.config.settings import Settings
from equitr.web import services as services_mod
from equitr.web.app import create_app
from equitr.web.asgi import call
from tests.conftest import SECRET, headers, payload
from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub

REPO = "Codertocat/Hello-World"  # the repository the vendored payloads name


@pytest.fixture
async def app(
    tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey
) -> AsyncIterator[tuple[Any, services_mod.Services]]:
    fake_github.add_repo(REPO)
    fake_github.add_installation(7, repos=[REPO])
    fake_github.set_permission(REPO, "Codertocat", "write")
    settings = Settings(
        EQUITR_DB=tmp_path / "equitr.db",
        GH_SECRET=SECRET,
        GH_APP_ID=github_app_key.app_id,
        GH_PRIVATE_KEY=github_app_key.pem.get_secret_value(),
        GITHUB_API_URL=fake_github.base_url,
    )
    services = services_mod.build(settings)
    async with aiohttp.ClientSession() as session:
        dispatcher = services.dispatcher(services_mod.session_factory(services, session))
        yield create_app(dispatcher=dispatcher, secret=SECRET), services
    services.close()


async def post(app: Any, event: str, body: bytes, delivery: str) -> tuple[int, Any]:
    return await call(app, "POST", "/webhook", body=body, headers=headers(body, event, delivery))


# -- W2c: nesting deeper than Python's stack -------------------------------------------------------------


@pytest.mark.parametrize("depth", [5_000, 100_000])
async def test_deeply_nested_json_is_400(app: tuple[Any, services_mod.Services], depth: int) -> None:
    body = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    status, answer = await post(app[0], "issue_comment", body, f"deep-{depth}")
    assert (status, answer["status"]) == (400, "body is JSON nested too deeply")


# -- W2d: every field the routers read, with every wrong type --------------------------------------------


def examples() -> dict[str, dict[str, Any]]:
    """One real payload per event equitr acts on, each made into work (a command, the trigger label)."""
    comment = payload("issue_comment", "created")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    comment["comment"].update(body="/equitr fix please", created_at=now, updated_at=now)
    comment["installation"] = {"id": 7, "node_id": "x"}
    labeled = payload("issues", "labeled")
    labeled["label"]["name"] = "equitr"
    labeled["issue"].update(state="open", updated_at=now)
    labeled["installation"] = {"id": 7, "node_id": "x"}
    pull = payload("pull_request", "opened")
    pull["pull_request"]["draft"] = False
    installation = payload("installation", "created")
    return {"issue_comment": comment, "issues": labeled, "pull_request": pull, "installation": installation}


def field_paths(data: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Every top-level key, every key of the objects below it, and the nested objects the routers read."""
    for key, value in data.items():
        yield (key,)
        if isinstance(value, dict) and key != "repository":
            for sub, inner in value.items():
                yield (key, sub)
                if isinstance(inner, dict) and sub in ("user", "head", "account", "performed_via_github_app"):
                    for leaf in inner:
                        yield (key, sub, leaf)
    if "repository" in data:
        yield ("repository", "full_name")


WRONG = ["x", 7, True, [], ["x"], {"a": [1]}, 2**70, "\ud800"]


def mutated(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


async def test_wrong_types_anywhere_are_never_5xx(app: tuple[Any, services_mod.Services]) -> None:
    client, _ = app
    statuses: dict[int, int] = {}
    reasons: set[str] = set()
    count = 0
    for event, data in examples().items():
        for path in field_paths(data):
            for value in WRONG:
                if type(value) is type(_get(data, path)) and value == _get(data, path):
                    continue
                count += 1
                body = json.dumps(mutated(data, path, value)).encode()
                status, answer = await post(client, event, body, f"w2d-{count}")
                assert status < 500, (event, path, value, answer)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 400:
                    reasons.add(answer["status"])
    print(f"\n{count} malformed deliveries → {statuses}")
    assert count > 1000 and statuses.get(400)
    assert all(r.startswith(("malformed `", "body is")) for r in reasons), reasons


@pytest.mark.parametrize(
    ("event", "path", "value", "reason"),
    [
        ("pull_request", ("pull_request", "user"), "x", "`pull_request.user` is a string, not an object"),
        ("installation", ("installation", "account"), "x", "`installation.account` is a string, not an object"),
        ("issue_comment", ("comment", "body"), ["x"], "`comment.body` is a list, not a string"),
        ("issues", ("action",), ["labeled"], "`action` is a list, not a string"),
        ("issue_comment", ("installation", "id"), 2**70, "`installation.id` is out of range"),
        ("issue_comment", ("repository", "full_name"), "no-slash", "`repository.full_name` is not OWNER/NAME"),
    ],
)
async def test_a_wrong_type_is_400_naming_the_field(
    app: tuple[Any, services_mod.Services], event: str, path: tuple[str, ...], value: Any, reason: str
) -> None:
    client, services = app
    body = json.dumps(mutated(examples()[event], path, value)).encode()
    status, answer = await post(client, event, body, "w2d-named")
    assert (status, answer["status"]) == (400, f"malformed `{event}` payload: {reason}")
    assert services.store.jobs() == [] and services.store.installations() == []


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node

"""`POST /webhook` through the real ASGI app: signatures, limits, malformed deliveries, dedupe, and every
vendored github.com example payload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gidgethub.abc import GitHubAPI

from equitr.config.settings import Settings
from equitr.jobs.runner import JobContext, Outcome
from equitr.web import services as services_mod
from equitr.web.app import MAX_BODY, create_app
from equitr.web.asgi import call
from equitr.web.signature import sign
from tests.conftest import SECRET, headers, payload, webhook_payloads


class NoGitHub:
    """For deliveries that must not need GitHub at all: any call fails the test."""

    calls = 0

    async def __call__(self, installation_id: int | None) -> GitHubAPI:
        self.calls += 1
        raise AssertionError("this delivery should not have needed GitHub")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[services_mod.Services]:
    built = services_mod.build(Settings(EQUITR_DB=tmp_path / "equitr.db", GH_SECRET=SECRET))
    yield built
    built.close()


@pytest.fixture
def counted(services: services_mod.Services) -> tuple[Any, list[str]]:
    """The app, and a list that records every delivery that reached the dispatcher."""
    dispatcher = services.dispatcher(NoGitHub())
    reached: list[str] = []
    original = dispatcher.dispatch

    async def spy(name: str, delivery: str, data: dict[str, Any]) -> Any:
        reached.append(delivery)
        return await original(name, delivery, data)

    dispatcher.dispatch = spy  # type: ignore[method-assign]
    return create_app(dispatcher=dispatcher, secret=SECRET), reached


async def post(app: Any, body: bytes, hdrs: dict[str, str]) -> tuple[int, Any]:
    return await call(app, "POST", "/webhook", body=body, headers=hdrs)


# -- signatures ------------------------------------------------------------------------------------------

BODY = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()


@pytest.mark.parametrize(
    "case",
    ["tampered", "wrong-secret", "missing", "sha1-only", "empty-key-forgery", "malformed", "prefix-only"],
)
async def test_bad_signatures_are_refused_before_any_handler(counted: tuple[Any, list[str]], case: str) -> None:
    app, reached = counted
    hdrs = headers(BODY, "ping", "d-1")
    body = BODY
    if case == "tampered":
        body = BODY.replace(b"awesome", b"awesome!")
    elif case == "wrong-secret":
        hdrs["x-hub-signature-256"] = sign(BODY, "not-the-secret")
    elif case == "missing":
        del hdrs["x-hub-signature-256"]
    elif case == "sha1-only":
        del hdrs["x-hub-signature-256"]
        hdrs["x-hub-signature"] = "sha1=" + "0" * 40
    elif case == "empty-key-forgery":
        hdrs["x-hub-signature-256"] = sign(BODY, "")
    elif case == "malformed":
        hdrs["x-hub-signature-256"] = "sha256=xyz"
    elif case == "prefix-only":
        hdrs["x-hub-signature-256"] = "sha256="
    status, answer = await post(app, body, hdrs)
    assert status == 401, answer
    assert reached == []


async def test_github_test_vector_passes_the_signature_check(services: services_mod.Services) -> None:
    # GitHub's documented vector; the body is not JSON, so passing the signature check leads to a 400.
    app = create_app(dispatcher=services.dispatcher(NoGitHub()), secret="It's a Secret to Everybody")
    hdrs = {
        "x-github-event": "ping",
        "x-github-delivery": "d-vector",
        "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    }
    status, answer = await post(app, b"Hello, World!", hdrs)
    assert (status, answer["status"]) == (400, "body is not a JSON object")


async def test_an_empty_configured_secret_verifies_nothing(services: services_mod.Services) -> None:
    app = create_app(dispatcher=services.dispatcher(NoGitHub()), secret="")
    status, _ = await post(app, BODY, headers(BODY, "ping", "d-1", secret=""))
    assert status == 401


# -- malformed deliveries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x-github-event": ""}, "X-GitHub-Event"),
        ({"x-github-event": "Issue Comment!"}, "X-GitHub-Event"),
        ({"x-github-delivery": ""}, "X-GitHub-Delivery"),
        ({"x-github-delivery": "../../etc/passwd"}, "X-GitHub-Delivery"),
    ],
)
async def test_malformed_headers_are_400(counted: tuple[Any, list[str]], change: dict[str, str], reason: str) -> None:
    app, reached = counted
    hdrs = {**headers(BODY, "ping", "d-1"), **change}
    status, answer = await post(app, BODY, hdrs)
    assert status == 400 and reason in answer["status"]
    assert reached == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b"", b'{"a": '])
async def test_malformed_bodies_are_400(counted: tuple[Any, list[str]], body: bytes) -> None:
    app, reached = counted
    status, _ = await post(app, body, headers(body, "issues", "d-1"))
    assert status == 400
    assert reached == []


async def test_form_encoded_payload_is_accepted(counted: tuple[Any, list[str]]) -> None:
    import urllib.parse

    app, _ = counted
    body = urllib.parse.urlencode({"payload": BODY.decode()}).encode()
    hdrs = {**headers(body, "ping", "d-form"), "content-type": "application/x-www-form-urlencoded"}
    assert (await post(app, body, hdrs))[0] == 200


async def test_oversize_declared_length_is_413_without_reading(counted: tuple[Any, list[str]]) -> None:
    app, reached = counted
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    status = await _raw(app, receive, [(b"content-length", str(MAX_BODY + 1).encode())])
    assert status == 413 and received == 0 and reached == []


async def test_oversize_stream_without_length_is_413(counted: tuple[Any, list[str]]) -> None:
    app, reached = counted
    chunk = b"x" * (1024 * 1024)
    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": sent < 100}

    status = await _raw(app, receive, [])
    assert status == 413 and reached == []
    assert sent == MAX_BODY // len(chunk) + 1  # stopped right after passing the limit, not after all 100 MiB


async def test_events_equitr_does_not_act_on_are_checked_but_not_kept(counted: tuple[Any, list[str]]) -> None:
    """A `push` may be as large as GitHub allows (25 MB): its signature is checked as it streams in."""
    app, reached = counted
    body = json.dumps({"ref": "refs/heads/main", "padding": "x" * (MAX_BODY + 1024)}).encode()
    status, answer = await post(app, body, headers(body, "push", "d-push"))
    assert (status, answer["status"]) == (200, "no work")
    status, _ = await post(app, body, headers(body, "push", "d-push", secret="wrong"))
    assert status == 401
    # The same size as an event equitr acts on is over its limit.
    status, answer = await post(app, body, headers(body, "issues", "d-issues"))
    assert (status, answer["status"]) == (413, f"payload larger than {MAX_BODY} bytes")
    assert reached == []


def test_the_events_the_edge_keeps_are_the_events_the_routers_act_on() -> None:
    from gidgethub import sansio

    from equitr.events import EVENTS, router

    routed = {
        name
        for name, path in webhook_payloads()
        if router.fetch(sansio.Event(json.loads(path.read_text()), event=name, delivery_id="x"))
    }
    assert routed <= EVENTS and EVENTS - routed == {"ping", "installation_target"}  # no example of the latter
    assert router.fetch(sansio.Event({}, event="installation_target", delivery_id="x"))


async def _raw(app: Any, receive: Any, extra_headers: list[tuple[bytes, bytes]]) -> int:
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhook",
        "headers": [
            (b"x-github-event", b"ping"),
            (b"x-github-delivery", b"d"),
            (b"x-hub-signature-256", b"sha256=" + b"0" * 64),
            *extra_headers,
        ],
        "query_string": b"",
        "scheme": "http",
        "server": ("t", 80),
        "root_path": "",
        "http_version": "1.1",
    }
    await app(scope, receive, send)
    return status


# -- answers ----------------------------------------------------------------------------------------------


async def test_ping_is_200(counted: tuple[Any, list[str]]) -> None:
    app, _ = counted
    body = json.dumps(payload("ping")).encode()
    status, answer = await post(app, body, headers(body, "ping", "d-ping"))
    assert (status, answer["status"]) == (200, "pong")


async def test_installation_events_are_recorded_without_jobs(services: services_mod.Services) -> None:
    app = create_app(dispatcher=services.dispatcher(NoGitHub()), secret=SECRET)
    body = json.dumps(payload("installation", "created")).encode()
    status, answer = await post(app, body, headers(body, "installation", "d-inst"))
    assert status == 200 and answer["status"] == "installation recorded"
    assert services.store.installations() and services.store.jobs() == []


async def test_health_and_metrics(services: services_mod.Services) -> None:
    app = create_app(
        dispatcher=services.dispatcher(NoGitHub()), secret=SECRET, health=services.health, metrics_token="t0ken"
    )
    bearer = {"authorization": "Bearer t0ken"}
    status, answer = await call(app, "GET", "/healthz", headers=bearer)
    assert status == 200 and answer["ok"] and answer["queue"] == "sqlite"
    body = json.dumps(payload("ping")).encode()
    await post(app, body, headers(body, "ping", "d-m"))
    status, text = await call(app, "GET", "/metrics", headers=bearer)
    assert status == 200 and 'equitr_webhook_requests_total{status="200"} 1.0' in text


def job_gauges(metrics: str) -> dict[str, float]:
    return {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("equitr_jobs{")
    }


async def test_the_jobs_gauge_follows_a_job_to_its_end(services: services_mod.Services) -> None:
    """B11: once the job has ended, `/metrics` shows no job running or queued (it kept the last count)."""
    app = create_app(
        dispatcher=services.dispatcher(NoGitHub()), secret=SECRET, health=services.health, metrics_token="t0ken"
    )

    async def gauges() -> dict[str, float]:
        status, text = await call(app, "GET", "/metrics", headers={"authorization": "Bearer t0ken"})
        assert status == 200
        return job_gauges(text)

    data = payload("pull_request", "opened")
    data["pull_request"]["draft"] = False
    body = json.dumps(data).encode()
    status, answer = await post(app, body, headers(body, "pull_request", "d-gauge"))
    assert status == 202
    assert await gauges() == {"queued": 1.0, "running": 0.0}
    seen: dict[str, float] = {}

    async def review(ctx: JobContext) -> Outcome:
        seen.update(await gauges())
        return Outcome("done", "reviewed")

    runner = services.runner({"review": review})
    assert (await runner.run(answer["jobs"][0])) == Outcome("done", "reviewed")
    assert seen == {"queued": 0.0, "running": 1.0}
    assert await gauges() == {"queued": 0.0, "running": 0.0}


async def test_pull_request_opened_makes_one_review_job_however_often_delivered(
    services: services_mod.Services,
) -> None:
    app = create_app(dispatcher=services.dispatcher(NoGitHub()), secret=SECRET)
    data = payload("pull_request", "opened")
    data["pull_request"]["draft"] = False
    body = json.dumps(data).encode()
    answers = [await post(app, body, headers(body, "pull_request", "d-same")) for _ in range(3)]
    assert [a[0] for a in answers] == [202, 200, 200]
    # A redelivery under a new delivery id for the same head commit is still the same review.
    assert (await post(app, body, headers(body, "pull_request", "d-new")))[0] == 200
    (job,) = services.store.jobs()
    assert job.kind == "review" and job.args["head_sha"] == data["pull_request"]["head"]["sha"]


# -- the whole vendored corpus ----------------------------------------------------------------------------


def expected_kind(event: str, data: dict[str, Any]) -> str | None:
    """The rule of issue #2, written independently of the routers: which example payloads are work. Drafts
    and bots' pull requests are jobs too: whether they are reviewed is the repository's `[review]` choice,
    which the job reads (issue #9, B4)."""
    if event == "pull_request" and data.get("action") in ("opened", "ready_for_review", "synchronize", "reopened"):
        pr = data["pull_request"]
        if pr.get("state") != "closed" and "equitr[bot]" not in (pr["user"]["login"], data["sender"]["login"]):
            return "review"
    return None


async def test_every_vendored_example_gets_a_deliberate_answer(services: services_mod.Services) -> None:
    examples = webhook_payloads()
    assert len(examples) == 329
    github = NoGitHub()
    app = create_app(dispatcher=services.dispatcher(github), secret=SECRET)
    statuses: dict[int, int] = {}
    expected_jobs: list[tuple[str, str]] = []
    for i, (event, path) in enumerate(examples):
        body = path.read_bytes()
        status, answer = await post(app, body, headers(body, event, f"corpus-{i}"))
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (path, answer)
        assert status in (200, 202), (path, answer)  # every example is valid, signed input
        kind = expected_kind(event, json.loads(body))
        if kind:
            pr = json.loads(body)["pull_request"]
            expected_jobs.append((kind, pr["head"]["sha"] + (":draft" if pr.get("draft") else "")))
        assert (status == 202) == bool(kind) or answer["status"] == "duplicate", (path, answer)
    jobs = services.store.jobs(limit=1000)
    made = [(j.kind, j.args["head_sha"] + (":draft" if j.args["draft"] else "")) for j in jobs]
    assert sorted(made) == sorted(set(expected_jobs))
    assert github.calls == 0
    print(f"\n329 examples → {statuses}; {len(jobs)} review jobs")

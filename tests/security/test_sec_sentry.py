"""K2a / K2d: a crash reported to Sentry carries no secret.

K2a, end to end: App mode with `SENTRY_DSN` pointing at a real Sentry endpoint on loopback, the fake GitHub
minting installation tokens in GitHub's ~520-character `ghs_APPID_JWT` format, a `/equitr fix` through a
signed webhook, and a crash inside the agent (a model adapter failing with an unexpected `KeyError`) while the
job's token sits in the arguments of the frames below. The review found 467 of 500 token characters in the
`args` of `asyncio.to_thread`'s frame. K2d: a registered secret with quotes, a backslash, a TAB and
non-ASCII in the crash message, which JSON escaping used to hide from redaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from equitr import redact
from equitr.jobs.queue import Queue
from equitr.web.server import init_sentry
from tests.integration.test_github_e2e import PLAN, World, comment, run_job, world
from tests.security.sentry_capture import SentryCapture

__all__ = ["world"]  # the fixture, shared with the GitHub end-to-end tests

ODD_SECRET = 'odd "quoted" \\ back\tslash-schlüssel-7c1f'


def windows(secret: str, size: int = 16) -> Iterator[str]:
    """Every `size`-character piece of `secret`, so a partly masked secret is caught too."""
    for start in range(0, max(1, len(secret) - size + 1), 4):
        yield secret[start : start + size]


@pytest.fixture
def sentry(world: World) -> Iterator[SentryCapture]:
    with SentryCapture() as capture:
        settings = world.services.settings.model_copy(update={"sentry_dsn": SecretStr(capture.dsn)})
        init_sentry(settings)
        yield capture


async def test_a_crash_with_the_token_in_its_frames_sends_no_token_to_sentry(
    world: World, sentry: SentryCapture
) -> None:
    w = world
    w.fake.long_tokens = True
    redact.register(ODD_SECRET)

    def adapter_bug(messages: Sequence[Any]) -> str:
        token = w.fake.minted[-1].value  # what the job cloned with, now a local of the crashing frame
        raise KeyError(f"choices missing for {token[:12]}… ({ODD_SECRET})")

    try:
        w.model.script += [PLAN, adapter_bug]
        _, answer = await comment(w, "/equitr fix")
        outcome = await run_job(w, answer)
        sentry.flush()
    finally:
        redact.forget(ODD_SECRET)

    assert outcome.state == "failed" and "internal error (KeyError)" in outcome.reason
    text = sentry.text
    assert '"type":"KeyError"' in text.replace(" ", ""), "the crash must have reached Sentry"
    assert w.fake.minted and all(len(t.value) > 400 for t in w.fake.minted)  # the new, long format
    for token in [t.value for t in w.fake.minted]:
        body = token.split("_", 2)[-1]
        leaked = [piece for piece in windows(body) if piece in text]
        assert not leaked, f"{len(leaked)} pieces of a token reached Sentry"
    for form in (ODD_SECRET, ODD_SECRET.replace('"', '\\"'), "back\\tslash-schl"):
        assert form not in text
    assert '"vars"' not in text  # no frame locals at all


async def test_error_reports_leave_the_queue_as_it_is(world: World, sentry: SentryCapture, tmp_path: Path) -> None:
    """With Sentry on, a queued job still round-trips: no integration adds to the signed messages (Sentry's
    Huey integration, enabled because huey is installed, put `sentry_headers` into every task)."""
    queue = Queue(db=tmp_path / "q.db", redis_url=None)
    try:
        queue.enqueue_job(42)
        task = queue.huey.dequeue()
        assert task is not None and task.args == (42,) and not task.kwargs
    finally:
        queue.close()

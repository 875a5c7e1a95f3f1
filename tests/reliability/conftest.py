from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.fixtures import AppKey
from tests.fakes.github import FakeGitHub
from tests.reliability.harness import Stack


@pytest.fixture
async def stack(tmp_path: Path, fake_github: FakeGitHub, github_app_key: AppKey) -> AsyncIterator[Stack]:
    made = Stack(tmp_path, fake_github, github_app_key, EQUITR_SHUTDOWN_GRACE="1")
    yield made
    made.close()

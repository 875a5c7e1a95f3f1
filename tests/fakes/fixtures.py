"""Pytest fixtures for the fake GitHub: `github_app_key` (session) and `fake_github` (per test).

Use them from a conftest (`pytest_plugins = ["tests.fakes.fixtures"]` in the root `tests/conftest.py`) or
import them into a test module. `fake_github` fails the test at teardown if any request did not conform
to GitHub's API description; call `fake_github.take_violations()` in tests that provoke them on purpose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from tests.fakes.github import FakeGitHub

APP_ID = 4242


@dataclass(frozen=True)
class AppKey:
    """A GitHub App identity made up for the test session; the private key is generated, never stored."""

    app_id: int
    private_key: rsa.RSAPrivateKey

    @property
    def pem(self) -> SecretStr:
        return SecretStr(
            self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ).decode()
        )


@pytest.fixture(scope="session")
def github_app_key() -> AppKey:
    return AppKey(APP_ID, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
async def fake_github(github_app_key: AppKey) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(app_id=github_app_key.app_id, app_public_key=github_app_key.private_key.public_key()) as fake:
        yield fake
    fake.assert_no_violations()

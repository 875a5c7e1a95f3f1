"""What a deployer must still do, checked by `equitr doctor` (docs/security.md#what-a-deployer-must-do).

- Redis must ask for a password. A password in EQUITR_QUEUE_URL proves nothing on its own: a Redis without
  `requirepass` accepts AUTH with any password, so doctor asks the server itself (a real redis-server).
- equitr must not run as root. The tests switch the effective uid with a user namespace (`unshare --user`,
  with `--map-root-user` for root), so both cases run whoever runs the suite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RedisServer
from tests.integration.test_queue_durability import env_for


def doctor(env: dict[str, str], *wrapper: str) -> list[str]:
    done = subprocess.run(
        [*wrapper, sys.executable, "-m", "equitr", "doctor"], env=env, capture_output=True, text=True, timeout=180
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout.splitlines()


def test_doctor_asks_redis_itself_whether_it_wants_a_password(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "open", "--appendonly", "yes", password=None) as open_redis:
        url = f"redis://:not-checked-by-anyone@127.0.0.1:{open_redis.port}/0"
        lines = doctor(env_for(url, tmp_path))
    warning = next((line for line in lines if line.startswith("! redis auth:")), None)
    assert warning is not None, lines
    assert "answers clients without a password" in warning and "not-checked-by-anyone" not in "\n".join(lines)

    with RedisServer(tmp_path / "closed", "--appendonly", "yes") as closed:
        lines = doctor(env_for(closed.url, tmp_path))
    assert "✓ redis auth: Redis turns away clients without a password" in lines, lines
    assert not any(line.startswith("! redis auth:") for line in lines), lines


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is not installed")
def test_doctor_warns_when_equitr_runs_as_root(tmp_path: Path) -> None:
    env = env_for("", tmp_path)
    del env["EQUITR_QUEUE_URL"]
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    as_root = doctor(env, "unshare", "--user", "--map-root-user")
    line = next((line for line in as_root if line.startswith(("! user:", "✓ user:"))), "")
    assert line.startswith("! user: equitr runs as root"), as_root
    assert "run equitr as an unprivileged user of its own" in "\n".join(as_root)

    as_nobody = doctor(env, "unshare", "--user")  # no mapping: the overflow uid, 65534
    assert "✓ user: equitr runs as an unprivileged user (uid 65534)" in as_nobody, as_nobody

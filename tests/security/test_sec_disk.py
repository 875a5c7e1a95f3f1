"""A disk quota per job (S4f): the tests and the setup command cannot fill the host's disk.

Real bubblewrap, real writes: each hostile command would write 1 GiB (in 16 MiB files, pausing a moment
after each, so that "stopped on the way" is not a race); the job's quota is 64 MiB. The last test goes
through a signed webhook, with the quota set in `.equitr.toml`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import LimitReached
from equitr.sandbox.quota import MIB, DiskQuota, usage
from equitr.tools.base import ToolContext
from equitr.tools.run import RunParams, run
from tests.conftest import needs_setup_network
from tests.integration.test_github_e2e import PLAN, REPO, World, comment, push_to_default_branch, run_job, world
from tests.security.conftest import git, needs_bwrap

__all__ = ["world"]
pytestmark = needs_bwrap

FILL = (
    "import os, time\n"
    "{prelude}"
    "os.makedirs('{where}', exist_ok=True)\n"
    "for i in range(64):\n"
    "    with open(os.path.join('{where}', f'fill{{i}}.bin'), 'wb') as fh:\n"
    "        fh.write(os.urandom(16 * 2**20))\n"
    "    time.sleep(0.05)\n"
)
CLOSE_OUTPUT = "os.close(1); os.close(2)\n"


def fill(root: Path, name: str, *, where: str = "build", prelude: str = "") -> str:
    (root / name).write_text(FILL.format(where=where, prelude=prelude))
    git(root, "add", name)
    git(root, "commit", "-q", "-m", f"add {name}")
    return f"python {name}"


@pytest.mark.parametrize("prelude", ["", CLOSE_OUTPUT], ids=["writes", "closes-its-output-first"])
def test_a_test_run_that_fills_the_disk_is_stopped_on_the_way(checkout: Path, prelude: str) -> None:
    command = fill(checkout, "fill.py", prelude=prelude)
    ctx = ToolContext(root=checkout, sandbox_mode="bwrap", test_command=command, disk=DiskQuota(64 * MIB))
    with pytest.raises(LimitReached) as stopped:
        run(RunParams(), ctx)
    assert stopped.value.limit == "disk"
    assert stopped.value.message.startswith("The test run was stopped: it wrote more than the job's disk limit")
    assert "limits.max_disk_mb" in (stopped.value.hint or "")
    assert usage([checkout / "build"]) < 512 * MIB  # killed on the way, far from the 1 GiB it meant to write


@needs_setup_network
def test_a_setup_command_is_held_to_the_same_quota(checkout: Path) -> None:
    command = fill(checkout, "fill.py", where="/equitr-env/cache")
    ctx = ToolContext(
        root=checkout, sandbox_mode="bwrap", test_command="true", setup_command=command, disk=DiskQuota(64 * MIB)
    )
    with pytest.raises(LimitReached, match="The setup command was stopped: it wrote more than"):
        run(RunParams(), ctx)
    assert usage([ctx.job_env]) < 512 * MIB


def test_what_stays_under_the_quota_runs_as_before(checkout: Path) -> None:
    (checkout / "small.py").write_text("open('out.bin', 'wb').write(b'0' * 2**20)\n")
    ctx = ToolContext(root=checkout, sandbox_mode="bwrap", test_command="python small.py", disk=DiskQuota(64 * MIB))
    for _ in range(3):  # the same megabyte each time: growth is counted from the checkout as it was
        assert run(RunParams(), ctx).ok


async def test_a_job_over_its_quota_stops_with_a_formatted_error(world: World, tmp_path: Path) -> None:
    w = world
    push_to_default_branch(
        w,
        tmp_path,
        {
            ".equitr.toml": "[limits]\nmax_disk_mb = 64\n",
            "test_fill.py": "def test_fill():\n"
            + "".join(f"    {line}\n" for line in FILL.format(where="build", prelude="").splitlines()),
        },
    )
    w.model.script += [PLAN]
    _, answer = await comment(w, "/equitr fix")
    outcome = await run_job(w, answer)
    assert outcome.state == "failed", outcome
    error = [c["body"] for c in w.fake.issue_comments(REPO, 1) if "<!-- equitr:error:" in c["body"]]
    assert error, "no error comment"
    stopped = "The test run was stopped: it wrote more than the job's disk limit of 64 MiB; the job stops here."
    assert stopped in error[0]
    assert "Raise `limits.max_disk_mb` in `.equitr.toml`" in error[0]
    assert not w.fake.repo(REPO).pulls

"""Hostile commands under the real bubblewrap sandbox: all contained, nothing written outside the checkout."""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
from pathlib import Path

import pytest

from equitr.sandbox.bwrap import CommandResult, default_ro_paths, run_command
from equitr.sandbox.limits import Limits, create_cgroup
from tests.security.conftest import needs_bwrap, snapshot

pytestmark = needs_bwrap
CANARIES = {
    "GITHUB_TOKEN": "canary-github-token",
    "GH_SECRET": "canary-webhook-secret",
    "OPENAI_API_KEY": "canary-openai-key",
    "ANTHROPIC_API_KEY": "canary-anthropic-key",
    "GH_PRIVATE_KEY": "canary-private-key",
}


def sandboxed(root: Path, *argv: str, **limits: float) -> CommandResult:
    return run_command(list(argv), root=root, mode="bwrap", limits=Limits(**limits))  # type: ignore[arg-type]


def py(code: str) -> list[str]:
    return ["python", "-c", code]


def test_network_is_unreachable(checkout: Path, listener: tuple[int, list[str]]) -> None:
    port, accepted = listener
    # sanity: the listener works from the host
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    time.sleep(0.3)
    assert len(accepted) == 1
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('CONNECTED')"
    result = sandboxed(checkout, *py(code), wall_time_s=20)
    assert "CONNECTED" not in result.stdout
    assert result.exit_code != 0
    assert "ConnectionRefused" in result.stderr or "unreachable" in result.stderr.lower()
    dns = sandboxed(checkout, *py("import socket; socket.getaddrinfo('example.com', 443)"), wall_time_s=20)
    assert dns.exit_code != 0
    time.sleep(0.3)
    assert len(accepted) == 1


def test_fork_bomb_is_bounded(checkout: Path) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    start = time.monotonic()
    result = sandboxed(checkout, *py(bomb), wall_time_s=4, max_processes=64)
    assert time.monotonic() - start < 20
    assert result.killed_reason == "timeout"
    if result.peak_processes is not None:  # a pids cgroup was available: it held the line
        assert result.peak_processes <= 64
    shell = sandboxed(checkout, "sh", "-c", "b() { b | b & }; b; sleep 60", wall_time_s=3, max_processes=64)
    assert shell.killed_reason == "timeout" or shell.exit_code is not None
    assert not _leftovers("os.fork()")


def _leftovers(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_memory_hog_is_stopped(checkout: Path) -> None:
    hog = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))\n"
    result = sandboxed(checkout, *py(hog + "print('UNBOUNDED')"), wall_time_s=30, memory_bytes=512 * 2**20)
    assert not result.ok
    assert "UNBOUNDED" not in result.stdout
    assert result.killed_reason == "memory" or "MemoryError" in result.stderr


def test_endless_sleep_is_killed_with_its_children(checkout: Path) -> None:
    start = time.monotonic()
    result = sandboxed(checkout, "sh", "-c", "sleep 987654 & sleep 987655", wall_time_s=1.5)
    assert result.timed_out and result.killed_reason == "timeout" and result.exit_code is None
    assert time.monotonic() - start < 6
    time.sleep(0.2)
    assert not _leftovers("98765")


def test_a_gigabyte_of_output_is_capped(checkout: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = sandboxed(checkout, "head", "-c", str(10**9), "/dev/zero", wall_time_s=60)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert result.killed_reason == "output"
    assert result.stdout_bytes < Limits().output_hard_cap_bytes + 2 * 65536
    assert len(result.stdout) < 2 * Limits().output_keep_bytes
    assert "bytes of output omitted" in result.stdout
    assert grown_kib < 100 * 1024  # the parent never held the output


def test_writes_outside_the_checkout_fail(checkout: Path, outside: Path, tmp_path: Path) -> None:
    before_outside = snapshot(outside)
    before_git = snapshot(checkout / ".git")
    host_tmp = Path("/tmp") / f"equitr-escape-{os.getpid()}"
    script = "; ".join(
        f"(echo pwned > {target}) 2>/dev/null && echo WROTE:{target}"
        for target in (
            outside / "secret.txt", outside / "new.txt", "/etc/passwd", "/usr/bin/pwned", "/root/pwned",
            "../outside/new.txt", ".git/hooks/pre-commit", ".git/config", "/pwned", host_tmp,
        )
    )  # fmt: skip
    result = sandboxed(checkout, "sh", "-c", script + "; echo inside > ok.txt", wall_time_s=20)
    wrote = [line for line in result.stdout.splitlines() if line.startswith("WROTE:")]
    assert wrote == [f"WROTE:{host_tmp}"]  # the sandbox's own /tmp, a private tmpfs
    assert not host_tmp.exists()
    assert (checkout / "ok.txt").read_text() == "inside\n"  # the checkout itself is writable
    assert snapshot(outside) == before_outside
    assert snapshot(checkout / ".git") == before_git


def test_no_secrets_inside(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    venv = Path(sys.prefix).resolve()  # the virtualenv running the tests, wherever the project is checked out
    looked_at = (Path("/root"), venv.parent)
    listings = " ".join(f'echo "== {d}"; ls -A {d} 2>/dev/null;' for d in looked_at)
    result = sandboxed(
        checkout,
        "sh",
        "-c",
        f"env; cat /proc/self/environ /proc/1/environ | tr '\\0' '\\n'; {listings} true",
        wall_time_s=20,
    )
    assert result.ok, result.stderr
    assert "HOME=/tmp" in result.stdout
    for value in CANARIES.values():
        assert value not in result.stdout + result.stderr
    assert "PWD=/tmp" not in result.stdout  # not even the host's path of the checkout
    # Outside the system directories, only the interpreter and the virtualenv are visible: each directory
    # looked at shows exactly the first path components of the read-only binds below it, nothing else.
    binds = default_ro_paths()
    for d in looked_at:
        shown = result.stdout.split(f"== {d}\n")[1].split("== ")[0].split()
        expected = sorted({b.relative_to(d).parts[0] for b in binds if b.is_relative_to(d) and b != d})
        assert sorted(shown) == expected, d


def test_tests_run_inside(checkout: Path) -> None:
    (checkout / "test_sample.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    result = sandboxed(checkout, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", wall_time_s=120)
    assert result.ok, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_memory_spread_over_processes_is_capped_by_the_cgroup(checkout: Path) -> None:
    group = create_cgroup(Limits())
    if group is None or (len(group.dirs) < 2 and group.version == 1):
        pytest.skip("no writable memory cgroup on this host; RLIMIT_AS still caps each process")
    group.remove()
    code = (
        "import os, time\nfor i in range(4):\n    if os.fork() == 0:\n        b = bytearray(200 * 2**20)\n"
        "        for j in range(0, len(b), 4096): b[j] = 1\n        time.sleep(2); os._exit(0)\n"
        "print(sorted(os.wait()[1] for _ in range(4)))"
    )
    result = sandboxed(checkout, *py(code), wall_time_s=30, memory_bytes=400 * 2**20)
    assert result.killed_reason == "memory"
    assert not result.ok
    assert "9" in result.stdout  # at least one child was OOM-killed (SIGKILL)

from __future__ import annotations

from pathlib import Path

import pytest

from equitr.errors import SandboxError
from equitr.sandbox.bwrap import build_bwrap_argv, run_command
from equitr.sandbox.gitsafe import git_argv, is_dangerous_key
from equitr.sandbox.limits import Limits, join_argv, prlimit_argv
from equitr.sandbox.output import ClippedBuffer


def test_refuses_without_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("equitr.sandbox.binaries.system", lambda name: None)
    monkeypatch.setattr("equitr.sandbox.binaries.bundled_bwrap", lambda: None)
    monkeypatch.setattr("equitr.sandbox.binaries._found", {})
    with pytest.raises(SandboxError) as err:
        run_command(["true"], root=tmp_path, mode="bwrap")
    assert "not installed" in err.value.message and "EQUITR_SANDBOX=none" in (err.value.hint or "")


def test_none_mode_runs_with_a_clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "canary-none-mode")
    result = run_command(["env"], root=tmp_path, mode="none", limits=Limits(wall_time_s=10))
    assert result.ok and "canary-none-mode" not in result.stdout and f"HOME={tmp_path}" in result.stdout


def test_secret_looking_env_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="looks like a secret"):
        run_command(["true"], root=tmp_path, mode="none", env={"MY_API_KEY": "x"})


def test_bwrap_argv_shape(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    argv = build_bwrap_argv(
        ["pytest"], bwrap="/opt/bwrap", root=tmp_path, ro_paths=[Path("/opt/py")], env={"A": "1"}, limits=Limits()
    )
    joined = " ".join(argv)
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--clearenv", "--new-session"):
        assert flag in argv
    assert f"--bind {tmp_path} /workspace" in joined
    assert f"--ro-bind {tmp_path}/.git /workspace/.git" in joined
    assert "--ro-bind /opt/py /opt/py" in joined and "--setenv A 1" in joined
    assert argv[0] == "/opt/bwrap" and argv[-2:] == ["--", "pytest"]
    assert "--share-net" not in argv


def test_a_setup_sandbox_gets_certificates_and_a_network_of_its_own(tmp_path: Path) -> None:
    from equitr.sandbox.netns import Plumbing

    net = Plumbing.open("slirp4netns")
    try:
        argv = build_bwrap_argv(
            ["sh"], bwrap="bwrap", root=tmp_path, ro_paths=[], env={}, limits=Limits(), network=True, net=net
        )
        host = build_bwrap_argv(
            ["sh"], bwrap="bwrap", root=tmp_path, ro_paths=[], env={}, limits=Limits(), network=True
        )
    finally:
        net.close()
    joined = " ".join(argv)
    assert "--share-net" not in argv and f"--info-fd {net.info_w} --block-fd {net.block_r}" in joined
    assert (
        f"--ro-bind-data {net.resolv_r} /etc/resolv.conf" in joined
        and "/etc/resolv.conf /etc/resolv.conf" not in joined
    )
    assert "--ro-bind-try /etc/ssl/certs /etc/ssl/certs" in joined and "/etc/ca-certificates" in joined
    assert "/etc/ssl /etc/ssl" not in joined  # S4k: never /etc/ssl/private
    assert "--share-net" in host and "--ro-bind-try /etc/resolv.conf /etc/resolv.conf" in " ".join(host)


def test_limit_argv() -> None:
    assert "--as=1024" in prlimit_argv(Limits(memory_bytes=1024))
    assert join_argv(None) == []


def test_clipped_buffer_keeps_head_and_tail() -> None:
    buf = ClippedBuffer(keep=10)
    for chunk in (b"0123", b"456789", b"abcdef"):
        buf.write(chunk)
    assert buf.total == 16 and buf.clipped
    assert buf.text() == "01234\n[... 6 bytes of output omitted ...]\nbcdef"
    small = ClippedBuffer(keep=100)
    small.write(b"hi")
    assert small.text() == "hi" and not small.clipped


@pytest.mark.parametrize(
    ("key", "dangerous"),
    [("filter.lfs.smudge", True), ("diff.x.textconv", True), ("include.path", True),
     ("includeIf.gitdir:/x/.path", True), ("core.fsmonitor", True), ("url.https://evil/.insteadOf", True),
     ("remote.origin.uploadpack", True), ("user.name", False), ("remote.origin.url", False),
     ("core.bare", False), ("branch.main.merge", False)],
)  # fmt: skip
def test_dangerous_keys(key: str, dangerous: bool) -> None:
    assert is_dangerous_key(key) is dangerous


def test_git_argv_disables_external_programs() -> None:
    argv = git_argv(["diff", "HEAD"])
    assert "core.hooksPath=/dev/null" in argv and "protocol.ext.allow=never" in argv
    assert argv[argv.index("diff") + 1 : argv.index("diff") + 3] == ["--no-ext-diff", "--no-textconv"]


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_a_cancel_kills_the_command_and_its_children(tmp_path: Path, mode: str) -> None:
    """B15: once the job's cancel event is set, the command and what it started are killed, not left to run
    until the time limit."""
    import contextlib
    import os
    import threading

    from equitr.sandbox import binaries

    if mode == "bwrap" and binaries.bwrap().path is None:
        pytest.skip("no bubblewrap can start here")
    cancel = threading.Event()
    marker = "sleep 765.4"

    def cmdlines() -> list[bytes]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip())
        return found

    def cancel_once_started() -> None:
        while marker.encode() not in cmdlines():
            if cancel.wait(0.02):
                return
        cancel.set()

    watcher = threading.Thread(target=cancel_once_started)
    watcher.start()
    result = run_command(
        ["sh", "-c", f"{marker} & {marker}; wait"], root=tmp_path, mode=mode, ro_paths=(), cancel=cancel
    )
    cancel.set()
    watcher.join()
    assert result.killed_reason == "cancelled" and result.exit_code is None and not result.ok
    assert marker.encode() not in cmdlines()  # both sleeps: the whole process group

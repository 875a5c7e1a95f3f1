"""The setup command's network: a namespace of its own that reaches the internet, and not the host.

Sharing the host's network namespace (`bwrap --share-net`) would let a repository's setup command, or any
install script it runs, reach every service on the host's loopback (an unauthenticated Redis is code
execution as equitr), the host's abstract Unix sockets (they belong to the network namespace) and the cloud
metadata endpoint. Instead the sandbox keeps its own, empty network namespace, and a user-mode network
helper connects it to the outside through ordinary sockets of the host:

- **slirp4netns** (Debian/Ubuntu package `slirp4netns`), with `--disable-host-loopback`: the namespace gets
  10.0.2.100/24, the gateway 10.0.2.2 does not lead to the host's loopback, DNS goes through 10.0.2.3 to
  the host's resolver. Tried first.
- **pasta** (package `passt`), with `--no-map-gw`, no port forwarding in either direction, IPv4 only, and
  DNS forwarded from 10.0.2.3.

Either way the helper attaches while bubblewrap holds the sandbox at `--block-fd`, before anything of the
repository runs, and equitr then adds `unreachable` routes for link-local addresses (169.254.0.0/16, where
cloud metadata endpoints live) inside the namespace; the sandbox has no capability to remove them. Its
`/etc/resolv.conf` names 10.0.2.3 and nothing else of the host's. The host's own non-loopback addresses
stay reachable, like any address on the internet: bind local services to 127.0.0.1 or a Unix socket.

Without a helper, the setup command is refused with a message naming the packages, unless the operator
sets `EQUITR_SETUP_NETWORK=host` to let it share the host's network as before (and accept what that means).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from equitr.config.settings import NetworkMode
from equitr.errors import SandboxError

HELPERS: tuple[str, ...] = ("slirp4netns", "pasta")
PACKAGES = {"slirp4netns": "slirp4netns", "pasta": "passt"}
GUEST, GATEWAY, DNS = "10.0.2.100", "10.0.2.2", "10.0.2.3"
UNREACHABLE = ("169.254.0.0/16",)  # link-local: cloud instance metadata (169.254.169.254) and the like
RESOLV_CONF = f"nameserver {DNS}\n".encode()
_NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
_START_TIMEOUT_S = 20.0
_HINT = (
    "Install slirp4netns (`apt-get install slirp4netns`) or pasta (`apt-get install passt`), and iproute2; or "
    "set EQUITR_SETUP_NETWORK=host to let setup commands share the host's network, which lets them reach "
    "every service on the host's loopback (docs/sandbox.md)."
)


def choose(mode: NetworkMode) -> str:
    """The helper to use for `mode` ("host" for the host's network), or SandboxError naming what to install."""
    if mode == "host":
        return "host"
    wanted = HELPERS if mode == "auto" else (mode,)
    found = next((h for h in wanted if shutil.which(h)), None)
    if found is None:
        names = " nor ".join(f"{h} (package `{PACKAGES[h]}`)" for h in wanted)
        raise SandboxError(
            f"The setup command needs the network in a namespace of its own, and neither {names} is installed."
            if len(wanted) > 1
            else f"The setup command needs the network in a namespace of its own, and {names} is not installed.",
            hint=_HINT,
        )
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            raise SandboxError(f"The setup command's network needs `{tool}` (package `{package}`).", hint=_HINT)
    return found


@dataclass(slots=True)
class Plumbing:
    """The file descriptors between equitr and one bubblewrap sandbox with a network of its own: bwrap
    reports the sandbox's pid on `info`, waits on `block` until the helper is attached, and copies
    `/etc/resolv.conf` from `resolv`."""

    helper: str
    info_r: int = -1
    info_w: int = -1
    block_r: int = -1
    block_w: int = -1
    resolv_r: int = -1
    _helper_proc: subprocess.Popen[bytes] | None = None
    _exit_w: int = -1
    _pasta_pid: int | None = None
    _fds: list[int] = field(default_factory=list)

    @classmethod
    def open(cls, helper: str) -> Plumbing:
        plumbing = cls(helper)
        plumbing.info_r, plumbing.info_w = plumbing._pipe()
        plumbing.block_r, plumbing.block_w = plumbing._pipe()
        plumbing.resolv_r, resolv_w = plumbing._pipe()
        os.write(resolv_w, RESOLV_CONF)
        os.close(resolv_w)
        plumbing._fds.remove(resolv_w)
        return plumbing

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        self._fds += [r, w]
        return r, w

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.info_w, self.block_r, self.resolv_r)

    def bwrap_args(self) -> list[str]:
        return [
            "--info-fd", str(self.info_w), "--block-fd", str(self.block_r),
            "--ro-bind-data", str(self.resolv_r), "/etc/resolv.conf",
        ]  # fmt: skip

    def start(self) -> None:
        """After bwrap started: attach the helper to the sandbox's namespace, close the link-local routes,
        and let the sandbox go on. Raises SandboxError (the caller kills the sandbox)."""
        for fd in (self.info_w, self.block_r, self.resolv_r):  # the child's ends
            self._close(fd)
        pid = self._child_pid()
        netfd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._fds.append(netfd)
        _wait_for_loopback(pid)
        try:
            userfd = fcntl.ioctl(netfd, _NS_GET_USERNS)  # the user namespace that owns it: where caps are
        except OSError as exc:
            raise SandboxError(f"Cannot find the sandbox's user namespace: {exc.strerror}.", hint=_HINT) from None
        self._fds.append(userfd)
        if self.helper == "slirp4netns":
            self._slirp4netns(netfd, userfd)
        else:
            self._pasta(netfd, userfd)
        for cidr in UNREACHABLE:
            self._ip(netfd, userfd, ["route", "add", "unreachable", cidr])
        try:
            os.write(self.block_w, b"1")
        except BrokenPipeError:
            raise SandboxError("The sandbox exited before its network was ready.", hint=_HINT) from None
        self._close(self.block_w)

    def _child_pid(self) -> int:
        data = b""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while b"}" not in data:
            ready, _, _ = select.select([self.info_r], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.info_r, 4096) if ready else b""
            if not chunk:
                raise SandboxError("The sandbox did not start its network namespace.", hint=_HINT)
            data += chunk
        try:
            return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])
        except (ValueError, KeyError) as exc:
            raise SandboxError(f"bubblewrap reported no sandbox pid ({exc}).") from None

    def _slirp4netns(self, netfd: int, userfd: int) -> None:
        ready_r, ready_w = self._pipe()
        exit_r, self._exit_w = self._pipe()
        # Its own sandbox (a mount namespace, capabilities dropped) needs root; an unprivileged equitr has none
        # of those capabilities to drop.
        sandbox = ["--enable-sandbox"] if os.geteuid() == 0 else []
        argv = [
            "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", *sandbox,
            f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", "--netns-type=path",
            f"--userns-path=/proc/self/fd/{userfd}", f"/proc/self/fd/{netfd}", "tap0",
        ]  # fmt: skip
        self._helper_proc = subprocess.Popen(
            argv,
            pass_fds=(ready_w, exit_r, netfd, userfd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._close(ready_w)
        self._close(exit_r)
        ready, _, _ = select.select([ready_r], [], [], _START_TIMEOUT_S)
        if not ready or os.read(ready_r, 1) != b"1":
            self._helper_proc.kill()
            _, err = self._helper_proc.communicate()
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise SandboxError(
                f"slirp4netns could not connect the sandbox: {' | '.join(detail[-3:]) if detail else 'no answer'}.",
                hint=_HINT,
            )

    def _pasta(self, netfd: int, userfd: int) -> None:
        with tempfile.TemporaryDirectory(prefix="equitr-pasta-") as tmp:
            pidfile = Path(tmp) / "pid"
            argv = [
                "pasta", "--config-net", "--quiet", "-4", "--no-map-gw",
                "-t", "none", "-u", "none", "-T", "none", "-U", "none",
                "-a", GUEST, "-n", "24", "-g", GATEWAY, "--dns-forward", DNS,
                "--runas", str(os.getuid()), "-P", str(pidfile),
                "--netns", f"/proc/self/fd/{netfd}", "--userns", f"/proc/self/fd/{userfd}",
            ]  # fmt: skip
            done = subprocess.run(
                argv, pass_fds=(netfd, userfd), capture_output=True, timeout=_START_TIMEOUT_S, check=False
            )
            with contextlib.suppress(OSError, ValueError):
                self._pasta_pid = int(pidfile.read_text().strip())
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SandboxError(
                f"pasta could not connect the sandbox: {detail[-1] if detail else done.returncode}.", hint=_HINT
            )

    @staticmethod
    def _ip(netfd: int, userfd: int, args: list[str]) -> None:
        # As root, the host's capabilities cover every namespace; joining the sandbox's user namespace would
        # only risk `ip` losing them at exec (it is not that namespace's root). Otherwise join it to get them.
        user = [] if os.geteuid() == 0 else [f"--user=/proc/self/fd/{userfd}", "--preserve-credentials"]
        done = subprocess.run(
            ["nsenter", *user, f"--net=/proc/self/fd/{netfd}", "ip", *args],
            pass_fds=(netfd, userfd),
            capture_output=True,
            timeout=_START_TIMEOUT_S,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()
            raise SandboxError(f"Cannot set up the sandbox's routes (ip {' '.join(args)}): {detail}.", hint=_HINT)

    def close(self) -> None:
        """Stop the helper and close every descriptor; safe to call more than once."""
        if self._helper_proc is not None:
            self._close(self._exit_w)  # slirp4netns exits when its exit fd closes
            try:
                self._helper_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._helper_proc.kill()
                self._helper_proc.wait()
            if self._helper_proc.stderr is not None:
                self._helper_proc.stderr.close()
            self._helper_proc = None
        if self._pasta_pid is not None:  # daemonised; it keeps the namespace open, so it would never quit
            _stop(self._pasta_pid)
            self._pasta_pid = None
        for fd in list(self._fds):
            self._close(fd)

    def _close(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.remove(fd)
            with contextlib.suppress(OSError):
                os.close(fd)


def _wait_for_loopback(pid: int) -> None:
    """bwrap reports the sandbox's pid before the sandbox has set up its loopback interface over netlink;
    a helper configuring the namespace at the same time makes that fail. Wait until `lo` has 127.0.0.1."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if "127.0.0.1" in Path(f"/proc/{pid}/net/fib_trie").read_text():
                return
        except OSError:
            raise SandboxError("The sandbox exited before its network was set up.") from None
        time.sleep(0.005)
    raise SandboxError("The sandbox did not set up its loopback interface.", hint=_HINT)


def _stop(pid: int) -> None:
    """SIGTERM a daemon that is not our child, wait a moment for it to go, then SIGKILL it."""
    for sig, wait_s in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 1.0)):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                return
            time.sleep(0.02)


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return True

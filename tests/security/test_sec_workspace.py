"""Workspaces against a real `git http-backend` on loopback that demands a token: the token works, and it
is nowhere on disk afterwards (mirror, checkout, config, remote URL) nor in any error message."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.errors import SandboxError
from bot.sandbox.workspace import Workspace
from tests.security.conftest import git

TOKEN = "ghs_canaryTOKEN1234567890"
BACKEND = "/usr/lib/git-core/git-http-backend"


def _handler(project_root: Path, seen: list[str]) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _cgi(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            env = {
                "GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "x-access-token",
                "CONTENT_TYPE": self.headers.get("Content-Type", ""), "PATH": "/usr/bin:/bin",
                "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(project_root),
            }  # fmt: skip
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            proc = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _cgi
        do_POST = _cgi

    return Handler


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A bare repository served over smart HTTP on 127.0.0.1, with a token check."""
    served = tmp_path / "served"
    served.mkdir()
    work = tmp_path / "upstream"
    work.mkdir()
    git(work, "init", "-q")
    (work / "app.py").write_text("print('v1')\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "v1")
    git(work, "tag", "v1")
    (work / "app.py").write_text("print('v2')\n")
    git(work, "commit", "-qam", "v2")
    git(tmp_path, "clone", "-q", "--bare", str(work), str(served / "repo.git"))
    git(served / "repo.git", "config", "http.receivepack", "true")
    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served, seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/repo.git", served / "repo.git", seen
    server.shutdown()
    thread.join()


def _grep_tree(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            data = path.read_bytes()
            hits += [f"{path}: {n!r}" for n in needles if n in data]
    return hits


def test_clone_and_push_with_token_leave_no_trace(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, bare, seen = remote
    ws = Workspace(tmp_path / "ws")
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode())
    needles = [TOKEN.encode(), basic]
    with ws.checkout("octo/repo", url, token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v2')\n"
        co.create_branch("equitr/fix-1")
        (co.root / "app.py").write_text("print('v3')\n")
        sha = co.commit_all("equitr: v3", "equitr <equitr@example.com>")
        assert sha is not None
        assert co.push(url, "equitr/fix-1", TOKEN) == sha
        (co.root / "app.py").write_text("print('v4')\n")
        co.commit_all("equitr: v4", "equitr <equitr@example.com>")
        co.push(url, "equitr/fix-1", TOKEN)  # the lease is the sha we pushed before
        assert _grep_tree(co.root, needles) == []
        root = co.root
    assert not root.exists()  # cleaned up
    assert _grep_tree(tmp_path / "ws", needles) == []
    remote_head = git(bare, "rev-parse", "refs/heads/equitr/fix-1").strip()
    assert git(bare, "show", f"{remote_head}:app.py") == "print('v4')\n"
    assert any(h for h in seen) and not any(TOKEN in h for h in seen)  # sent only base64-encoded, as a header


def test_mirror_is_reused_and_refs_checked_out(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, _, seen = remote
    ws = Workspace(tmp_path / "ws")
    with ws.checkout("octo/repo", url, ref="v1", token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v1')\n"
    requests_first = len(seen)
    with ws.checkout("octo/repo", url, ref="main", token=TOKEN) as co:
        assert (co.root / "app.py").read_text() == "print('v2')\n"
    assert len(seen) > requests_first  # fetched into the existing mirror
    assert len(list((tmp_path / "ws" / "mirrors").glob("*.git"))) == 1
    assert list((tmp_path / "ws" / "jobs").iterdir()) == []


def test_wrong_token_fails_without_echoing_it(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, _, _ = remote
    with pytest.raises(SandboxError) as failed, Workspace(tmp_path / "ws").checkout("o/r", url, token="wrong-tok"):
        pass
    assert "wrong-tok" not in str(failed.value)


def test_push_rules(tmp_path: Path, remote: tuple[str, Path, list[str]]) -> None:
    url, bare, _ = remote
    with Workspace(tmp_path / "ws").checkout("octo/repo", url, token=TOKEN) as co:
        with pytest.raises(SandboxError, match="only pushes"):
            co.push(url, "main", TOKEN)
        with pytest.raises(SandboxError, match="credentials"):
            co.push(url.replace("http://", f"http://x:{TOKEN}@"), "equitr/x", None)
        # someone else pushed to the branch meanwhile: our lease (must not exist) refuses to overwrite it
        git(bare, "branch", "equitr/taken", "main")
        co.create_branch("equitr/taken")
        (co.root / "new.txt").write_text("x\n")
        co.commit_all("mine", "equitr <equitr@example.com>")
        with pytest.raises(SandboxError, match=r"stale info|rejected"):
            co.push(url, "equitr/taken", TOKEN)

"""A real git remote for end-to-end tests: bare repositories served over smart HTTP (`git http-backend`)
on 127.0.0.1, with GitHub's token check (Basic `x-access-token:<token>`), so clone and push go through
the same path as against github.com."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BACKEND = "/usr/lib/git-core/git-http-backend"


class GitRemote:
    def __init__(
        self, root: Path, *, token_ok: Callable[[str], bool], push_ok: Callable[[str], bool] | None = None
    ) -> None:
        self.root = root
        self.token_ok = token_ok
        self.push_ok = push_ok  # also asked for pushes (receive-pack), e.g. "has the token contents: write?"
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, authorised)
        self.auth_headers: list[str] = []  # the raw Authorization headers, as sent
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GitRemote:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def add_bare(self, name: str, source: Path) -> Path:
        """Serve a bare clone of the repository at `source` as `name` (e.g. `octo/repo.git`)."""
        bare = self.root / name
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        subprocess.run(["git", "--git-dir", str(bare), "config", "http.receivepack", "true"], check=True)
        return bare

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _cgi(self) -> None:
                remote.auth_headers.append(self.headers.get("Authorization", ""))
                token = _token(self.headers.get("Authorization", ""))
                ok = token is not None and remote.token_ok(token)
                if ok and remote.push_ok is not None and "git-receive-pack" in self.path:
                    ok = remote.push_ok(token or "")
                remote.requests.append((self.command, self.path, ok))
                if not ok:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "GIT_PROJECT_ROOT": str(remote.root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                    "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "x-access-token",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""), "PATH": "/usr/bin:/bin",
                    "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(remote.root),
                }  # fmt: skip
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                proc = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False)
                head, _, payload = proc.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
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


def _token(header: str) -> str | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return password if user == "x-access-token" else None

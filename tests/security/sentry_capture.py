"""A Sentry ingestion endpoint on loopback: a real HTTP server that keeps every envelope the SDK sends.

with SentryCapture() as sentry:
    settings = Settings(SENTRY_DSN=sentry.dsn, ...)
    ...
    sentry.flush()
    assert token not in sentry.text
"""

from __future__ import annotations

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SentryCapture:
    def __init__(self) -> None:
        self.envelopes: list[bytes] = []  # decompressed request bodies, as the SDK sent them
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self._server.server_address[1]}/1"

    @property
    def text(self) -> str:
        """Every envelope as text, the way a reader of Sentry's storage would see it."""
        return "\n".join(e.decode("utf-8", "replace") for e in self.envelopes)

    def flush(self, timeout: float = 10.0) -> None:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)

    def __enter__(self) -> SentryCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import sentry_sdk

        sentry_sdk.get_client().close(timeout=5)
        sentry_sdk.get_global_scope().set_client(None)  # back to no client: later tests report nowhere
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                capture.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        return Handler

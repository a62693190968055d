"""A real local HTTP receiver for webhook and push-gateway tests.

A `ThreadingHTTPServer` on 127.0.0.1 that records every request (path, headers, body) and
answers as told: `mode` "ok" (200), "error" (500), "redirect" (302 to `redirect_to`) or
"gzip-bomb" (200 with a small gzip body that inflates to `GZIP_BOMB_BYTES`);
`stop()` takes it down (connection refused) and `start()` brings it back on the same port.
Push-gateway requests for a token in `unregistered_tokens` get FCM's 404 UNREGISTERED answer.
`on_request`, if set, is called with each request before it is answered.
`Silent` is a port that accepts connections and never answers.
"""

import functools
import gzip
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

GZIP_BOMB_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class Received:
    """One request the receiver got, and the status it answered."""

    method: str
    path: str
    headers: dict
    body: bytes
    status: int

    def json(self):
        return json.loads(self.body)


UNREGISTERED_BODY = json.dumps(
    {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED",
                }
            ],
        }
    }
).encode()


class Receiver:
    """Records requests; its behaviour can be switched while tests run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.mode = "ok"
        self.redirect_to: str | None = None
        self.unregistered_tokens: set[str] = set()
        self.on_request: Callable[[Received], None] | None = None
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen (again) on 127.0.0.1, on the same port as before if there was one."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):  # keep the test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, answer, extra = receiver._answer(self.path, body)
                received = Received(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                )
                if receiver.on_request is not None:
                    receiver.on_request(received)
                with receiver.lock:
                    receiver.requests.append(received)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a client that stops reading (as it should, from a gzip bomb)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # --- behaviour ------------------------------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _answer(self, path: str, body: bytes) -> tuple[int, bytes, dict]:
        if self.unregistered_tokens:
            try:
                token = json.loads(body)["message"]["token"]
            except (ValueError, KeyError, TypeError):
                token = None
            if token in self.unregistered_tokens:
                return 404, UNREGISTERED_BODY, {}
        if self.mode == "error":
            return 500, b'{"error": "boom"}', {}
        if self.mode == "redirect":
            return 302, b"{}", {"location": self.redirect_to}
        if self.mode == "gzip-bomb":
            return 200, _gzip_bomb(), {"content-encoding": "gzip"}
        return 200, b"{}", {}

    # --- what arrived ---------------------------------------------------------------------------

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        """The requests answered 2xx."""
        return [r for r in self.received(path) if 200 <= r.status < 300]

    def accepted_ids(self, path: str | None = None) -> Counter:
        """How often each `webhook-id` was answered 2xx."""
        return Counter(r.headers["webhook-id"] for r in self.accepted(path))


@functools.cache
def _gzip_bomb() -> bytes:
    """`GZIP_BOMB_BYTES` of zeros, gzipped (about a thousandth of that)."""
    member = gzip.compress(b"\0" * (1024 * 1024), compresslevel=9)
    return member * (GZIP_BOMB_BYTES // (1024 * 1024))  # concatenated gzip members


class Silent:
    """A port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""

    def __enter__(self) -> Self:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.socket.getsockname()[1]
        return self

    def __exit__(self, *_exc) -> None:
        self.socket.close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

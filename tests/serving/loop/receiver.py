"""A department's webhook receiver on loopback, checking every request with the shipped helper.

It keeps a log of every request (event id, whether its signature verified, the parsed body) and
answers from a plan: `fail_first` error answers per event before a 200, or `always` one status.
Tests read `unique()` as a receiving system would after deduplicating by event id. With `tls`
(a server-side context holding its certificate) it answers https:// instead.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving.webhooks import EVENT_ID_HEADER, SignatureError, verify


@dataclass
class Delivery:
    """One request as the receiver saw it."""

    event_id: str
    verified: bool
    body: dict[str, Any] | None
    status: int


@dataclass
class Receiver:
    """A running receiver; use as a context manager."""

    secret: str
    fail_first: int = 0
    fail_status: int = 500
    always: int | None = None
    delay_s: float = 0.0
    tls: ssl.SSLContext | None = None
    # called with each request as logged, before its answer is sent (e.g. to stop a server)
    on_answer: Callable[[Delivery], None] | None = None
    log: list[Delivery] = field(default_factory=list)
    _seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status = receiver.answer(dict(self.headers.items()), raw)
                if receiver.on_answer is not None:
                    receiver.on_answer(receiver.log[-1])
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{port}/riskloop"

    def answer(self, headers: dict[str, str], raw: bytes) -> int:
        """Verify, log and choose the status for one request."""
        try:
            verify(self.secret, headers, raw)
            verified = True
        except SignatureError:
            verified = False
        event_id = next((v for k, v in headers.items() if k.lower() == EVENT_ID_HEADER.lower()), "")
        with self._lock:
            self._seen[event_id] += 1
            if not verified:
                status = 400
            elif self.always is not None:
                status = self.always
            else:
                status = self.fail_status if self._seen[event_id] <= self.fail_first else 200
            body = json.loads(raw) if verified else None
            self.log.append(Delivery(event_id, verified, body, status))
        return status

    def unique(self) -> dict[str, dict[str, Any]]:
        """Accepted events by id, deduplicated as a receiving system would."""
        with self._lock:
            return {d.event_id: d.body for d in self.log if d.status == 200 and d.body}

    def attempts(self, event_id: str) -> int:
        with self._lock:
            return self._seen[event_id]

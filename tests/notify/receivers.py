"""Loopback receivers for delivery tests: an HTTP webhook receiver and a tiny SMTP server."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT = 60.0  # seconds: only a bound against hanging, never an assertion about speed


@dataclass
class Inbox:
    """What a receiver got, with a condition to wait on."""

    items: list[Any] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Any) -> None:
        """Record one arrival and wake waiters."""
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, test: Callable[[list[Any]], bool], timeout: float = WAIT) -> list[Any]:
        """Block until `test(items)` holds; return the items (fails the test when it never does)."""
        with self.cond:
            assert self.cond.wait_for(lambda: test(self.items), timeout), f"never arrived; got {self.items}"
            return list(self.items)


@dataclass
class Hit:
    """One webhook request."""

    key: str
    body: dict[str, Any]
    status: int


@contextmanager
def http_receiver(statuses: list[int] | None = None, hold: threading.Event | None = None
                  ) -> Iterator[tuple[str, Inbox]]:
    """Run a webhook receiver on 127.0.0.1 answering `statuses` in turn (then 200); `hold` holds the first."""
    inbox = Inbox()
    answers = list(statuses or [])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                status = answers.pop(0) if answers else 200
            first = not inbox.items
            inbox.add(Hit(self.headers.get("Idempotency-Key", ""), body, status))
            if hold is not None and first:
                hold.wait(WAIT)  # the crash drill kills the worker while this first request is open
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", inbox
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[str, Inbox]]:
    """Run a minimal SMTP server on 127.0.0.1 that accepts every message; yield its URL and inbox."""
    inbox = Inbox()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 localhost test smtp\r\n")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.wfile.write(b"250 localhost\r\n")
                elif verb == b"DATA":
                    self.wfile.write(b"354 go ahead\r\n")
                    data = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    inbox.add(message_from_bytes(data))
                    self.wfile.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:  # MAIL, RCPT, RSET, NOOP
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"smtp://127.0.0.1:{server.server_address[1]}?from=bpm@test.local", inbox
    finally:
        server.shutdown()
        server.server_close()


def subjects(messages: list[Message]) -> list[str]:
    """Return the decoded subjects of e-mails."""
    from email.header import decode_header, make_header

    return [str(make_header(decode_header(m["Subject"]))) for m in messages]

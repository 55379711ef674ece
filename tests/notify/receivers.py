"""Real local receivers for delivery tests: an aiosmtpd SMTP server and an HTTP server, each on
a free port of 127.0.0.1, recording what arrives."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """The messages the SMTP server accepted, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@contextmanager
def smtp_server(mailbox: Mailbox | None = None) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free localhost port."""
    mailbox = mailbox or Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@dataclass
class Received:
    """One HTTP request as it arrived."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What arrived, and how to answer: `answer(request) -> (status, JSON body)`."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: Callable[[Received], tuple[int, Any]] = lambda _r: (200, {"ok": True})
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records every POST."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            request = Received(
                parts.path, parse_qs(parts.query), dict(self.headers.items()),
                self.rfile.read(length),
            )  # fmt: skip
            with receiver.lock:
                receiver.requests.append(request)
            status, answer = receiver.answer(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

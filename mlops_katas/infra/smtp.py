"""A real SMTP server on loopback that keeps what it receives, for alerting tests.

Alerts that only `print` are never noticed at 3 a.m.; the katas make alert code
deliver over SMTP and the tests read the delivered message back. `SmtpSink` is an
aiosmtpd server in a background thread: it speaks real SMTP on 127.0.0.1, so
connection errors, rejected recipients and timeouts behave as with a mail relay.
`silent_listener` accepts connections and never greets, the way a hung relay does,
so a client without a timeout waits forever.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Iterable, Iterator

from .http_server import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.refuses(address):
            return "550 5.1.1 mailbox unavailable (rejected on purpose)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self.sink._lock:
            self.sink._messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpSink:
    """`with SmtpSink() as smtp:` accepts mail on `smtp.host:smtp.port` until the block ends.

    `reject_recipients=True` refuses every recipient; a collection of addresses refuses
    only those, as a relay does for one unknown mailbox among several good ones.
    """

    host = "127.0.0.1"

    def __init__(self, reject_recipients: bool | Iterable[str] = False, port: int | None = None) -> None:
        self.reject_recipients = (reject_recipients if isinstance(reject_recipients, bool)
                                  else frozenset(a.lower() for a in reject_recipients))
        self.port = port or 0
        self._messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller = None

    def refuses(self, address: str) -> bool:
        if isinstance(self.reject_recipients, bool):
            return self.reject_recipients
        return address.lower() in self.reject_recipients

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        """The messages once at least `count` arrived; fewer after `timeout_s` is returned as is."""
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def __enter__(self) -> "SmtpSink":
        from aiosmtpd.controller import Controller

        self.port = self.port or free_port()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port, ready_timeout=5.0)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts TCP connections but never says a word; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]

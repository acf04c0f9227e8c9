"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

An alert that only prints is an alert nobody receives; one that mails on every tick
is an alert everybody filters away. The manager mails once when a metric crosses its
threshold, reminds at most once per cooldown while it stays bad, says when it
recovers, and keeps running (logging the error) when the mail relay is down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    """`metric` breaches when its value is strictly above (or below) `limit`."""

    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        # TODO(task 4): a direction other than "above" or "below" is a ValueError.
        raise NotImplementedError("task 4")


@dataclass(frozen=True)
class Notification:
    """One alert the manager tried to send: what, why, and whether the relay took it."""

    status: str  # "firing" or "resolved"
    metric: str
    value: float
    threshold: Threshold
    subject: str
    delivered: bool


class Notifier(Protocol):
    def send(self, subject: str, body: str) -> None:
        """Deliver one message; raise AlertDeliveryError when it cannot be delivered."""


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout_s: float = 10.0) -> None:
        """Mail alerts through the SMTP relay at host:port; an empty `recipients` is a ValueError."""
        # TODO(task 5): check the recipients.
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        """Send one plain-text mail (Subject, From, To) to every recipient.

        Any failure (refused connection, timeout, rejected recipient) becomes an
        AlertDeliveryError whose message names host:port.
        """
        # TODO(task 5): email.message.EmailMessage + smtplib.SMTP(..., timeout=...).
        raise NotImplementedError("task 5")


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Two thresholds for one metric, or a negative cooldown, are a ValueError."""
        # TODO(task 4): validate, and keep per-metric state (firing? last delivered when?).
        self.thresholds = list(thresholds)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        """The metrics currently in breach."""
        # TODO(task 4)
        raise NotImplementedError("task 4")

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        """Check one tick of metric values; send and return the notifications it calls for.

        See the README for the exact rules (first breach, cooldown reminders, recovery,
        delivery failures) and subjects.
        """
        # TODO(task 4)
        raise NotImplementedError("task 4")

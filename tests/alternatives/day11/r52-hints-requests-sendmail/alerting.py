"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import email.policy
import logging
import math
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_LINE_BREAKS = ("\n", "\r", "\u2028", "\u2029", "\x85")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if not isinstance(self.direction, str):
            raise TypeError(f"direction must be text, not {self.direction!r}")
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', not {self.direction!r}")
        if math.isnan(float(self.limit)):
            raise ValueError(f"{self.metric}: the limit is NaN")

    def breached_by(self, value: float) -> bool:
        if self.direction == "above":
            return value > self.limit
        return value < self.limit


@dataclass(frozen=True)
class Notification:
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
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        if not self.recipients:
            raise ValueError("at least one recipient is needed")
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        where = f"{self.host}:{self.port}"
        if any(brk in subject for brk in _LINE_BREAKS):
            raise AlertDeliveryError(f"{where}: a subject cannot hold a line break: {subject!r}")
        try:
            msg = EmailMessage(policy=email.policy.SMTP)
            msg["Subject"] = subject
            msg["From"] = self.sender
            msg["To"] = ", ".join(self.recipients)
            msg.set_content(body)
            data = msg.as_bytes()
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                refused = smtp.sendmail(self.sender, self.recipients, data)
        except (OSError, smtplib.SMTPException, UnicodeError, ValueError) as exc:
            raise AlertDeliveryError(f"could not deliver through {where}: {exc}") from exc
        if refused:
            raise AlertDeliveryError(f"{where} refused recipients {refused}")


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds = list(thresholds)
        seen = set()
        for t in self.thresholds:
            if t.metric in seen:
                raise ValueError(f"two thresholds for {t.metric!r}")
            seen.add(t.metric)
        if math.isnan(cooldown_s) or cooldown_s < 0:
            raise ValueError(f"cooldown must be >= 0, not {cooldown_s!r}")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: dict[str, bool] = {t.metric: False for t in self.thresholds}
        self._last: dict[str, float | None] = {t.metric: None for t in self.thresholds}

    @property
    def firing(self) -> set[str]:
        return {m for m, on in self._firing.items() if on}

    def _notify(self, status: str, t: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = f"[FIRING] {t.metric} is {value:g}, {t.direction} the threshold {t.limit:g}"
        else:
            subject = f"[RESOLVED] {t.metric} is {value:g}, no longer {t.direction} the threshold {t.limit:g}"
        body = (f"{subject}\n\nmetric: {t.metric}\nvalue: {value!r}\n"
                f"threshold: {t.direction} {float(t.limit)!r}\n")
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as exc:
            log.error("alert %r not delivered: %s", subject, exc)
            delivered = False
        return Notification(status, t.metric, value, t, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for t in self.thresholds:
            if t.metric not in metrics:
                continue
            value = float(metrics[t.metric])
            if math.isnan(value):
                continue
            if t.breached_by(value):
                last = self._last[t.metric]
                if (not self._firing[t.metric] or last is None
                        or self.clock() - last >= self.cooldown_s):
                    self._firing[t.metric] = True
                    n = self._notify("firing", t, value)
                    if n.delivered:
                        self._last[t.metric] = self.clock()
                    sent.append(n)
            elif self._firing[t.metric]:
                self._firing[t.metric] = False
                self._last[t.metric] = None
                sent.append(self._notify("resolved", t, value))
        return sent

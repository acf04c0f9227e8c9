"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', got {self.direction!r}")
        if self.limit != self.limit:  # NaN (a config left empty): the rule would never fire
            raise ValueError(f"the limit of {self.metric!r} is NaN")

    def breached_by(self, value: float) -> bool:
        if self.direction == "above":
            return value > self.limit
        return value < self.limit


@dataclass(frozen=True)
class Notification:
    status: str
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
        if not recipients:
            raise ValueError("at least one recipient is needed")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        try:
            msg = EmailMessage(policy=SMTP_POLICY)
            msg["Subject"] = subject  # ValueError for a line break
            msg["From"] = self.sender
            msg["To"] = ", ".join(self.recipients)
            msg.set_content(body)
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                refused = smtp.sendmail(self.sender, self.recipients, msg.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError, ValueError) as error:
            raise AlertDeliveryError(f"could not deliver via {relay}: {error}") from error
        if refused:
            raise AlertDeliveryError(f"{relay} refused recipients {refused}")


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds = list(thresholds)
        metrics = [t.metric for t in self.thresholds]
        if len(set(metrics)) != len(metrics):
            raise ValueError("two thresholds for one metric")
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must not be negative")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: dict[str, bool] = {m: False for m in metrics}
        self._last: dict[str, float | None] = {m: None for m in metrics}

    @property
    def firing(self) -> set[str]:
        return {m for m, f in self._firing.items() if f}

    def _notify(self, status: str, t: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = f"[FIRING] {t.metric} is {value:g}, {t.direction} the threshold {t.limit:g}"
        else:
            subject = f"[RESOLVED] {t.metric} is {value:g}, no longer {t.direction} the threshold {t.limit:g}"
        body = f"metric: {t.metric}\nvalue: {value:g}\nthreshold: {t.direction} {t.limit:g}\n"
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as error:
            log.error("alert %r not delivered: %s", subject, error)
            delivered = False
        return Notification(status, t.metric, value, t, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for t in self.thresholds:
            if t.metric not in metrics:
                continue
            value = metrics[t.metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            now = self.clock()
            if t.breached_by(value):
                last = self._last[t.metric]
                if not self._firing[t.metric] or last is None or now - last >= self.cooldown_s:
                    self._firing[t.metric] = True
                    n = self._notify("firing", t, value)
                    if n.delivered:
                        self._last[t.metric] = now
                    sent.append(n)
            elif self._firing[t.metric]:
                self._firing[t.metric] = False
                self._last[t.metric] = None
                sent.append(self._notify("resolved", t, value))
        return sent

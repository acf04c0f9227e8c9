"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

An alert that only prints is an alert nobody receives; one that mails on every tick
is an alert everybody filters away. The manager mails once when a metric crosses its
threshold, reminds at most once per cooldown while it stays bad, says when it
recovers, and keeps running (logging the error) when the mail relay is down.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

ABOVE = "above"
BELOW = "below"
FIRING = "firing"
RESOLVED = "resolved"


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = ABOVE

    def __post_init__(self) -> None:
        if self.direction not in (ABOVE, BELOW):
            raise ValueError(f"direction must be {ABOVE!r} or {BELOW!r}, not {self.direction!r}")
        if self.limit != self.limit:  # NaN (a config left empty): no value compares above or below it
            raise ValueError(f"the limit of {self.metric!r} is NaN: the rule would never fire")

    def breached_by(self, value: float) -> bool:
        return value > self.limit if self.direction == ABOVE else value < self.limit


@dataclass(frozen=True)
class Notification:
    status: str
    metric: str
    value: float
    threshold: Threshold
    subject: str
    delivered: bool


def subject_for(status: str, metric: str, value: float, threshold: Threshold) -> str:
    if status == FIRING:
        return f"[FIRING] {metric} is {value:g}, {threshold.direction} the threshold {threshold.limit:g}"
    return f"[RESOLVED] {metric} is {value:g}, no longer {threshold.direction} the threshold {threshold.limit:g}"


class Notifier(Protocol):
    def send(self, subject: str, body: str) -> None: ...


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
        # SMTP_POLICY: CRLF line ends, and a body line starting 'From ' is sent as it is
        # (send_message's default generator would escape it as '>From ').
        message = EmailMessage(policy=SMTP_POLICY)
        try:
            message["Subject"] = subject  # ValueError for a line break: a header is one line
        except ValueError as exc:
            raise AlertDeliveryError(f"cannot send via {self.host}:{self.port}: the subject {subject!r} holds a "
                                     "line break") from exc
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                # sendmail raises only when *every* recipient is refused; it returns the others.
                refused = smtp.sendmail(self.sender, self.recipients, message.as_bytes())
        # UnicodeEncodeError: a non-ASCII address, which smtplib cannot write into MAIL FROM / RCPT TO
        # unless the relay offers SMTPUTF8; neither an OSError nor an SMTPException.
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(
                f"could not deliver alert via {self.host}:{self.port}: {exc.__class__.__name__}: {exc}"
            ) from exc
        if refused:
            raise AlertDeliveryError(f"the relay {self.host}:{self.port} refused {', '.join(sorted(refused))}")


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not cooldown_s >= 0:  # NaN too: every comparison with it is False, so it would never remind
            raise ValueError(f"cooldown_s must be >= 0, not {cooldown_s}")
        self.thresholds: dict[str, Threshold] = {}
        for threshold in thresholds:
            if threshold.metric in self.thresholds:
                raise ValueError(f"two thresholds for metric {threshold.metric!r}")
            self.thresholds[threshold.metric] = threshold
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: set[str] = set()
        self._last_delivered: dict[str, float] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._firing)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        now = self.clock()
        sent = []
        for metric, threshold in self.thresholds.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if the metric were missing this tick
                continue
            if threshold.breached_by(value):
                last = self._last_delivered.get(metric)
                if metric not in self._firing or last is None or now - last >= self.cooldown_s:
                    self._firing.add(metric)
                    notification = self._notify(FIRING, metric, value, threshold)
                    if notification.delivered:
                        self._last_delivered[metric] = now
                    sent.append(notification)
            elif metric in self._firing:
                self._firing.discard(metric)
                self._last_delivered.pop(metric, None)
                sent.append(self._notify(RESOLVED, metric, value, threshold))
        return sent

    def _notify(self, status: str, metric: str, value: float, threshold: Threshold) -> Notification:
        subject = subject_for(status, metric, value, threshold)
        body = (
            f"{metric} = {value:g}\n"
            f"threshold: {threshold.direction} {threshold.limit:g}\n"
            f"status: {status}\n"
        )
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as exc:
            log.error("alert not delivered (%s): %s", subject, exc)
            delivered = False
        return Notification(status, metric, value, threshold, subject, delivered)

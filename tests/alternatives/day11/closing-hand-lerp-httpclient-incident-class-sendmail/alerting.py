"""Alerting with a per-metric incident object and an SMTP notifier built on sendmail."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

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
            raise ValueError(f"direction must be 'above' or 'below', not {self.direction!r}")
        if self.limit != self.limit:  # NaN (a config left empty): the rule would never fire
            raise ValueError(f"the limit of {self.metric!r} is NaN")

    def breached_by(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit


@dataclass(frozen=True)
class Notification:
    status: str
    metric: str
    value: float
    threshold: Threshold
    subject: str
    delivered: bool


class Notifier(Protocol):
    def send(self, subject: str, body: str) -> None: ...


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout_s: float = 10.0) -> None:
        if len(recipients) == 0:
            raise ValueError("at least one recipient is needed")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        where = f"{self.host}:{self.port}"
        message = EmailMessage(policy=SMTP_POLICY)
        try:
            message["Subject"] = subject
        except ValueError as error:
            raise AlertDeliveryError(f"not sent through {where}: {error} (subject {subject!r})") from error
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as relay:
                refused = relay.sendmail(self.sender, self.recipients, message.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"could not deliver through {where}: {error}") from error
        if refused:
            raise AlertDeliveryError(f"{where} refused recipients {sorted(refused)}")


class _Incident:
    def __init__(self) -> None:
        self.open = False
        self.last_delivered: Optional[float] = None

    def reminder_due(self, now: float, cooldown: float) -> bool:
        return not self.open or self.last_delivered is None or now - self.last_delivered >= cooldown


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = list(thresholds)
        metrics = [t.metric for t in self.thresholds]
        if len(set(metrics)) != len(metrics):
            raise ValueError("one threshold per metric")
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must not be negative")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._incidents = {t.metric: _Incident() for t in self.thresholds}

    @property
    def firing(self) -> set[str]:
        return {metric for metric, incident in self._incidents.items() if incident.open}

    def _notify(self, status: str, threshold: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = f"[FIRING] {threshold.metric} is {value:g}, {threshold.direction} the threshold {threshold.limit:g}"
        else:
            subject = (f"[RESOLVED] {threshold.metric} is {value:g}, no longer {threshold.direction} "
                       f"the threshold {threshold.limit:g}")
        body = (f"Metric: {threshold.metric}\nValue: {value:g}\nThreshold: {threshold.direction} "
                f"{threshold.limit:g}\nStatus: {status}\n")
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as error:
            log.error("could not deliver %r: %s", subject, error)
            delivered = False
        return Notification(status, threshold.metric, value, threshold, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        now = self.clock()
        for threshold in self.thresholds:
            if threshold.metric not in metrics:
                continue
            value = metrics[threshold.metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            incident = self._incidents[threshold.metric]
            if threshold.breached_by(value):
                if incident.reminder_due(now, self.cooldown_s):
                    incident.open = True
                    note = self._notify("firing", threshold, value)
                    if note.delivered:
                        incident.last_delivered = now
                    out.append(note)
            elif incident.open:
                incident.open = False
                incident.last_delivered = None
                out.append(self._notify("resolved", threshold, value))
        return out

"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

Style: one mutable Incident object per metric; the compat32 MIMEText API for the mail,
and an explicit try/finally around the SMTP session.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.mime.text import MIMEText
from email.header import Header
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
        recipients = list(recipients)
        if not recipients:
            raise ValueError("at least one recipient is needed")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        where = f"{self.host}:{self.port}"
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = Header(subject, "utf-8")
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        try:
            relay = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"cannot reach the SMTP relay {where}: {error!r}") from error
        try:
            refused = relay.sendmail(self.sender, self.recipients, message.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"the SMTP relay {where} did not take the alert: {error!r}") from error
        finally:
            try:
                relay.quit()
            except (OSError, smtplib.SMTPException):
                relay.close()
        if refused:
            raise AlertDeliveryError(f"the SMTP relay {where} refused {sorted(refused)}")


@dataclass
class _Incident:
    firing: bool = False
    last_delivered: Optional[float] = None


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
            raise ValueError("one threshold per metric")
        if not cooldown_s >= 0:  # NaN too: a NaN cooldown would never remind
            raise ValueError("the cooldown cannot be negative")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._incidents = {t.metric: _Incident() for t in self.thresholds}

    @property
    def firing(self) -> set[str]:
        return {metric for metric, incident in self._incidents.items() if incident.firing}

    def _notify(self, status: str, threshold: Threshold, value) -> Notification:
        shown = f"{float(value):g}"
        limit = f"{float(threshold.limit):g}"
        if status == "firing":
            subject = f"[FIRING] {threshold.metric} is {shown}, {threshold.direction} the threshold {limit}"
        else:
            subject = f"[RESOLVED] {threshold.metric} is {shown}, no longer {threshold.direction} the threshold {limit}"
        body = (f"metric: {threshold.metric}\nvalue: {value}\nthreshold: {threshold.limit} ({threshold.direction})\n"
                f"status: {status}\n")
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as error:
            log.error("could not deliver %r: %s", subject, error)
            delivered = False
        return Notification(status, threshold.metric, value, threshold, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for threshold in self.thresholds:
            if threshold.metric not in metrics:
                continue
            value = metrics[threshold.metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            incident = self._incidents[threshold.metric]
            now = self.clock()
            if threshold.breached_by(value):
                due = (not incident.firing or incident.last_delivered is None
                       or now - incident.last_delivered >= self.cooldown_s)
                if due:
                    incident.firing = True
                    note = self._notify("firing", threshold, value)
                    if note.delivered:
                        incident.last_delivered = now
                    sent.append(note)
            elif incident.firing:
                incident.firing = False
                incident.last_delivered = None
                sent.append(self._notify("resolved", threshold, value))
        return sent

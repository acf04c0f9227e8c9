"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import operator
import smtplib
import time
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_COMPARE = {"above": operator.gt, "below": operator.lt}


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in _COMPARE:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.limit != self.limit:  # NaN (a config left empty): the rule would never fire
            raise ValueError(f"the limit of {self.metric!r} is NaN")


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
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s
        if len(self.recipients) == 0:
            raise ValueError("SmtpNotifier needs at least one recipient")

    def send(self, subject: str, body: str) -> None:
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = Header(subject, "utf-8")
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        where = "%s:%s" % (self.host, self.port)
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, self.recipients, message.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError("mail relay %s failed: %r" % (where, exc)) from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        if refused:
            raise AlertDeliveryError("mail relay %s refused %s" % (where, ", ".join(refused)))


@dataclass
class _Incident:
    threshold: Threshold
    active: bool = False
    delivered_at: Optional[float] = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"duplicate threshold for {threshold.metric}")
            self._incidents[threshold.metric] = _Incident(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock if clock is not None else time.monotonic

    @property
    def firing(self) -> set[str]:
        return {metric for metric, inc in self._incidents.items() if inc.active}

    def _deliver(self, status: str, threshold: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(
                threshold.metric, value, threshold.direction, threshold.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                threshold.metric, value, threshold.direction, threshold.limit)
        body = "\n".join([
            subject,
            "",
            f"Metric:    {threshold.metric}",
            f"Value:     {value:g}",
            f"Threshold: {threshold.direction} {threshold.limit:g}",
        ])
        ok = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            ok = False
            log.error("could not deliver %s alert for %s: %s", status, threshold.metric, exc)
        return Notification(status, threshold.metric, value, threshold, subject, ok)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        for metric, incident in self._incidents.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            threshold = incident.threshold
            breached = _COMPARE[threshold.direction](value, threshold.limit)
            if not breached:
                if incident.active:
                    incident.active = False
                    incident.delivered_at = None
                    out.append(self._deliver("resolved", threshold, value))
                continue
            due = (not incident.active or incident.delivered_at is None
                   or self.clock() - incident.delivered_at >= self.cooldown_s)
            incident.active = True
            if due:
                note = self._deliver("firing", threshold, value)
                if note.delivered:
                    incident.delivered_at = self.clock()
                out.append(note)
        return out

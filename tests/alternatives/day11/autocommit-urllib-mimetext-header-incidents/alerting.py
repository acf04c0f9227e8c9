"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_COMPARE = {"above": lambda value, limit: value > limit, "below": lambda value, limit: value < limit}


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
    def send(self, subject: str, body: str) -> None: ...


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout_s: float = 10.0) -> None:
        if len(recipients) == 0:
            raise ValueError("no recipients")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        mail = MIMEText(body, "plain", "utf-8")
        mail["Subject"] = Header(subject, "utf-8")
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        where = f"{self.host}:{self.port}"
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, list(self.recipients), mail.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"SMTP relay {where} failed: {error!r}") from error
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {where} refused {sorted(refused)}")


@dataclass
class _Incident:
    threshold: Threshold
    active: bool = False
    delivered_at: float | None = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._incidents[threshold.metric] = _Incident(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock if clock is not None else time.monotonic

    @property
    def firing(self) -> set[str]:
        return {name for name, incident in self._incidents.items() if incident.active}

    def _deliver(self, status: str, threshold: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = f"[FIRING] {threshold.metric} is {value:g}, {threshold.direction} the threshold {threshold.limit:g}"
            body = f"{threshold.metric} = {value:g} is {threshold.direction} its threshold {threshold.limit:g}."
        else:
            subject = (f"[RESOLVED] {threshold.metric} is {value:g}, no longer {threshold.direction} "
                       f"the threshold {threshold.limit:g}")
            body = f"{threshold.metric} = {value:g} is back within its threshold {threshold.limit:g}."
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("alert %s not delivered: %s", subject, error)
            return Notification(status, threshold.metric, value, threshold, subject, False)
        return Notification(status, threshold.metric, value, threshold, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        now = self.clock()
        sent: list[Notification] = []
        for name, incident in self._incidents.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            threshold = incident.threshold
            if _COMPARE[threshold.direction](value, threshold.limit):
                due = (not incident.active or incident.delivered_at is None
                       or now - incident.delivered_at >= self.cooldown_s)
                incident.active = True
                if due:
                    note = self._deliver("firing", threshold, value)
                    if note.delivered:
                        incident.delivered_at = now
                    sent.append(note)
            elif incident.active:
                incident.active = False
                incident.delivered_at = None
                sent.append(self._deliver("resolved", threshold, value))
        return sent

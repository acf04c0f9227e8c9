"""Alerts, style B: an Incident object per metric, a rule table, and smtplib.sendmail."""

from __future__ import annotations

import logging
import operator
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_COMPARE = {"above": operator.gt, "below": operator.lt}


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if not isinstance(self.direction, str) or self.direction not in _COMPARE:
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
        self.recipients = tuple(recipients)
        if len(self.recipients) == 0:
            raise ValueError("no recipients")
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s

    def send(self, subject: str, body: str) -> None:
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        where = f"{self.host}:{self.port}"
        try:
            message["Subject"] = subject
        except ValueError as exc:
            raise AlertDeliveryError(f"mail for {where} not sent: subject {subject!r} holds a line break") from exc
        message.set_content(body)
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, list(self.recipients), message.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"mail relay {where} failed: {exc!r}") from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        if refused:
            raise AlertDeliveryError(f"mail relay {where} refused recipients {sorted(refused)}")


@dataclass
class _Incident:
    open: bool = False
    delivered_at: float | None = None


@dataclass
class AlertManager:
    thresholds: Iterable[Threshold]
    notifier: Notifier
    cooldown_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _incidents: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.thresholds = tuple(self.thresholds)
        for t in self.thresholds:
            if t.metric in self._incidents:
                raise ValueError(f"second threshold for {t.metric}")
            self._incidents[t.metric] = _Incident()
        if not self.cooldown_s >= 0:
            raise ValueError("negative cooldown")

    @property
    def firing(self) -> set[str]:
        return {metric for metric, incident in self._incidents.items() if incident.open}

    def _send(self, status: str, threshold: Threshold, value: float) -> Notification:
        if status == "firing":
            head = f"[FIRING] {threshold.metric} is {value:g}, {threshold.direction}"
        else:
            head = f"[RESOLVED] {threshold.metric} is {value:g}, no longer {threshold.direction}"
        subject = f"{head} the threshold {threshold.limit:g}"
        body = (f"Metric {threshold.metric} reads {value:g}; its threshold is {threshold.limit:g} "
                f"({threshold.direction}). Status: {status}.")
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("alert not delivered (%s): %s", subject, exc)
            ok = False
        else:
            ok = True
        return Notification(status, threshold.metric, value, threshold, subject, ok)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for threshold in self.thresholds:
            try:
                value = metrics[threshold.metric]
            except KeyError:
                continue
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            incident = self._incidents[threshold.metric]
            if _COMPARE[threshold.direction](value, threshold.limit):
                now = self.clock()
                due = (not incident.open or incident.delivered_at is None
                       or now - incident.delivered_at >= self.cooldown_s)
                incident.open = True
                if due:
                    note = self._send("firing", threshold, value)
                    if note.delivered:
                        incident.delivered_at = now
                    sent.append(note)
            elif incident.open:
                self._incidents[threshold.metric] = _Incident()
                sent.append(self._send("resolved", threshold, value))
        return sent

"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr
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
        if self.direction not in {"above", "below"}:
            raise ValueError("direction: 'above' or 'below'")
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
        self.recipients = list(recipients)
        if len(self.recipients) == 0:
            raise ValueError("recipients is empty")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = Header(subject, "utf-8")
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        where = "%s:%s" % (self.host, self.port)
        smtp = smtplib.SMTP(timeout=self.timeout_s)
        try:
            smtp.connect(self.host, self.port)
            refused = smtp.sendmail(self.sender, self.recipients, message.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError("delivery via %s failed: %r" % (where, exc)) from exc
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
        if refused:
            raise AlertDeliveryError("relay %s refused recipients %s" % (where, sorted(refused)))


@dataclass
class _Incident:
    """An open incident: when its last firing notice got through (None: never yet)."""

    last_delivered: Optional[float] = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules: dict[str, Threshold] = {}
        for threshold in thresholds:
            if threshold.metric in self._rules:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._rules[threshold.metric] = threshold
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self.thresholds = list(self._rules.values())
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._incidents: dict[str, _Incident] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._incidents)

    def _attempt(self, status: str, rule: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(rule.metric, value, rule.direction, rule.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                rule.metric, value, rule.direction, rule.limit)
        body = "\n".join([
            subject,
            "",
            f"Metric:    {rule.metric}",
            f"Value:     {value:g}",
            f"Threshold: {rule.limit:g} ({rule.direction})",
        ])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("alert %s for %s not delivered: %s", status, rule.metric, exc)
            return Notification(status, rule.metric, value, rule, subject, False)
        return Notification(status, rule.metric, value, rule, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        for metric, rule in self._rules.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = value > rule.limit if rule.direction == "above" else value < rule.limit
            incident = self._incidents.get(metric)
            if breached:
                if incident is None:
                    incident = self._incidents[metric] = _Incident()
                now = self.clock()
                due = incident.last_delivered is None or now - incident.last_delivered >= self.cooldown_s
                if due:
                    note = self._attempt("firing", rule, value)
                    if note.delivered:
                        incident.last_delivered = now
                    out.append(note)
            elif incident is not None:
                del self._incidents[metric]
                out.append(self._attempt("resolved", rule, value))
        return out

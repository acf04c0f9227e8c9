"""Threshold alerts: a small state machine per metric, delivered over SMTP (MIMEText + sendmail)."""

from __future__ import annotations

import logging
import operator
import smtplib
import time
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
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
        self.recipients = list(recipients)
        if len(self.recipients) == 0:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        msg = MIMEText(body, "plain", "utf-8")
        msg["Subject"] = Header(subject, "utf-8")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        smtp = None
        try:
            smtp = smtplib.SMTP(timeout=self.timeout_s)
            smtp.connect(self.host, self.port)
            refused = smtp.sendmail(self.sender, self.recipients, msg.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"SMTP relay {relay} failed: {error!r}") from error
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {relay} refused recipients: {sorted(refused)}")


@dataclass
class _Incident:
    threshold: Threshold
    active: bool = False
    delivered_at: float | None = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] | None = None) -> None:
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self._incidents: dict[str, _Incident] = {}
        for t in thresholds:
            if t.metric in self._incidents:
                raise ValueError(f"two thresholds for {t.metric}")
            self._incidents[t.metric] = _Incident(t)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock if clock is not None else time.monotonic

    @property
    def firing(self) -> set[str]:
        return {name for name, inc in self._incidents.items() if inc.active}

    def _send(self, status: str, inc: _Incident, value: float) -> Notification:
        t = inc.threshold
        prefix = "" if status == "firing" else "no longer "
        subject = f"[{status.upper()}] {t.metric} is {value:g}, {prefix}{t.direction} the threshold {t.limit:g}"
        body = (f"Metric {t.metric} has value {value:g}; threshold: {t.direction} {t.limit:g}.\n"
                f"Status: {status}.\n")
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("could not deliver %s: %s", subject, error)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for name, inc in self._incidents.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = _COMPARE[inc.threshold.direction](value, inc.threshold.limit)
            now = self.clock()
            if breached:
                due = (not inc.active or inc.delivered_at is None
                       or now - inc.delivered_at >= self.cooldown_s)
                inc.active = True
                if due:
                    note = self._send("firing", inc, value)
                    if note.delivered:
                        inc.delivered_at = now
                    sent.append(note)
            elif inc.active:
                inc.active = False
                inc.delivered_at = None
                sent.append(self._send("resolved", inc, value))
        return sent

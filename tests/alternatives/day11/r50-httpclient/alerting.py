"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

Style B: an Incident object per firing metric, a low-level smtplib session.
"""

from __future__ import annotations

import logging
import math
import smtplib
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_COMPARE = {
    "above": lambda value, limit: value > limit,
    "below": lambda value, limit: value < limit,
}


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if not isinstance(self.direction, str):
            raise TypeError("direction must be text")
        if self.direction not in _COMPARE:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.limit != self.limit:
            raise ValueError("NaN limit")

    def breached_by(self, value) -> bool:
        return _COMPARE[self.direction](value, self.limit)


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
        if len(recipients) == 0:
            raise ValueError("recipients must not be empty")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        msg = EmailMessage(policy=policy.SMTP)
        msg["Subject"] = " ".join(subject.splitlines()) if subject else subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body)
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, self.recipients, msg.as_bytes())
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"SMTP relay {relay} failed: {exc!r}") from exc
        finally:
            client.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {relay} refused {sorted(refused)}")


@dataclass
class _Incident:
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
        for t in thresholds:
            if t.metric in self._rules:
                raise ValueError(f"duplicate threshold for {t.metric!r}")
            self._rules[t.metric] = t
        if not cooldown_s >= 0:
            raise ValueError("cooldown must be >= 0")
        self.thresholds = list(self._rules.values())
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._incidents: dict[str, _Incident] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._incidents)

    def _send(self, status, rule, value) -> Notification:
        v, lim = format(value, "g"), format(rule.limit, "g")
        if status == "firing":
            subject = f"[FIRING] {rule.metric} is {v}, {rule.direction} the threshold {lim}"
        else:
            subject = f"[RESOLVED] {rule.metric} is {v}, no longer {rule.direction} the threshold {lim}"
        body = "\n".join([
            f"{subject}",
            "",
            f"metric:    {rule.metric}",
            f"value:     {value}",
            f"threshold: {rule.limit} ({rule.direction})",
        ])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("alert %s not delivered: %s", subject, exc)
            return Notification(status, rule.metric, value, rule, subject, False)
        return Notification(status, rule.metric, value, rule, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for name, rule in self._rules.items():
            if name not in metrics:
                continue
            value = float(metrics[name])
            if math.isnan(value):
                continue
            incident = self._incidents.get(name)
            if rule.breached_by(value):
                now = self.clock()
                if incident is None:
                    incident = self._incidents[name] = _Incident()
                elif incident.last_delivered is not None and now - incident.last_delivered < self.cooldown_s:
                    continue
                n = self._send("firing", rule, value)
                if n.delivered:
                    incident.last_delivered = now
                sent.append(n)
            elif incident is not None:
                del self._incidents[name]
                sent.append(self._send("resolved", rule, value))
        return sent

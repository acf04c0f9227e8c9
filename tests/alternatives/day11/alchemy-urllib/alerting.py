"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP (MIMEText + sendmail)."""

from __future__ import annotations

import logging
import operator
import smtplib
import socket
import time
from dataclasses import dataclass
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
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = Header(subject, "utf-8")
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        where = f"{self.host}:{self.port}"
        server = None
        try:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            refused = server.sendmail(self.sender, self.recipients, message.as_string())
        except (smtplib.SMTPException, socket.timeout, OSError, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"SMTP relay {where} failed: {error}") from error
        finally:
            if server is not None:
                try:
                    server.quit()
                except (smtplib.SMTPException, OSError):
                    server.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {where} refused {', '.join(refused)}")


class _Incident:
    """What the manager remembers about one metric."""

    __slots__ = ("open", "delivered_at")

    def __init__(self) -> None:
        self.open = False
        self.delivered_at: float | None = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s cannot be negative")
        self._rules: dict[str, Threshold] = {}
        for threshold in thresholds:
            if threshold.metric in self._rules:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._rules[threshold.metric] = threshold
        self._state = {metric: _Incident() for metric in self._rules}
        self.thresholds = list(self._rules.values())
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return {metric for metric, state in self._state.items() if state.open}

    def _deliver(self, status: str, rule: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {m} is {v:g}, {d} the threshold {l:g}"
        else:
            subject = "[RESOLVED] {m} is {v:g}, no longer {d} the threshold {l:g}"
        subject = subject.format(m=rule.metric, v=value, d=rule.direction, l=rule.limit)
        body = (f"Metric: {rule.metric}\nValue: {value:g}\nThreshold: {rule.direction} {rule.limit:g}\n"
                f"Status: {status}\n")
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("alert %s not delivered: %s", subject, error)
            return Notification(status, rule.metric, value, rule, subject, False)
        return Notification(status, rule.metric, value, rule, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out = []
        for metric, rule in self._rules.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            state = self._state[metric]
            if _COMPARE[rule.direction](value, rule.limit):
                now = self.clock()
                due = (not state.open or state.delivered_at is None
                       or now - state.delivered_at >= self.cooldown_s)
                state.open = True
                if due:
                    note = self._deliver("firing", rule, value)
                    if note.delivered:
                        state.delivered_at = now
                    out.append(note)
            elif state.open:
                state.open = False
                state.delivered_at = None
                out.append(self._deliver("resolved", rule, value))
        return out

"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

Style: a set of firing metrics plus a dict of last-delivery times (a missing key is
"nothing delivered yet"); EmailMessage with the SMTP policy, sendmail inside `with`.
"""

from __future__ import annotations

import email.policy
import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_COMPARE = {"above": lambda value, limit: value > limit, "below": lambda value, limit: value < limit}


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
            raise ValueError("no recipients")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = EmailMessage(policy=email.policy.SMTP)
        try:
            msg["Subject"] = subject
        except ValueError as exc:
            raise AlertDeliveryError(f"mail relay {self.host}:{self.port} not tried: {exc}") from exc
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body)
        relay = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                refused = smtp.sendmail(self.sender, self.recipients, msg.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"mail relay {relay} failed: {exc}") from exc
        if refused:
            raise AlertDeliveryError(f"mail relay {relay} refused recipients {refused}")


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thresholds: dict[str, Threshold] = {}
        for threshold in thresholds:
            if threshold.metric in self.thresholds:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self.thresholds[threshold.metric] = threshold
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must be >= 0")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: set[str] = set()
        self._last_delivered: dict[str, float] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._firing)

    def _send(self, status, threshold, value):
        v, lim, d = format(value, "g"), format(threshold.limit, "g"), threshold.direction
        if status == "firing":
            subject = f"[FIRING] {threshold.metric} is {v}, {d} the threshold {lim}"
        else:
            subject = f"[RESOLVED] {threshold.metric} is {v}, no longer {d} the threshold {lim}"
        body = f"{threshold.metric} = {v} ({status}); threshold: {d} {lim}"
        delivered = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("alert %s not delivered: %s", subject, exc)
            delivered = False
        return Notification(status, threshold.metric, value, threshold, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out = []
        now = self.clock()
        for name, threshold in self.thresholds.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            if _COMPARE[threshold.direction](value, threshold.limit):
                last = self._last_delivered.get(name)
                if name in self._firing and last is not None and now - last < self.cooldown_s:
                    continue
                self._firing.add(name)
                n = self._send("firing", threshold, value)
                if n.delivered:
                    self._last_delivered[name] = now
                out.append(n)
            elif name in self._firing:
                self._firing.discard(name)
                self._last_delivered.pop(name, None)
                out.append(self._send("resolved", threshold, value))
        return out

"""Alerting with plain dicts of state and an SMTP notifier that manages its own session."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
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
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        if not self.recipients:
            raise ValueError("no recipients")
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = " ".join(subject.splitlines())  # a header is one line: fold any line break
        msg.set_content(body)
        relay = smtplib.SMTP(timeout=self.timeout_s)
        try:
            relay.connect(self.host, self.port)
            refused = relay.sendmail(self.sender, self.recipients, msg.as_bytes())
            if refused:
                raise AlertDeliveryError(f"relay {self.host}:{self.port} refused {', '.join(refused)}")
        except AlertDeliveryError:
            raise
        except (smtplib.SMTPException, OSError, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"relay {self.host}:{self.port} failed: {exc!r}") from exc
        finally:
            try:
                relay.quit()
            except (smtplib.SMTPException, OSError):
                relay.close()


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] | None = None) -> None:
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self._rules: dict[str, Threshold] = {}
        for rule in thresholds:
            if rule.metric in self._rules:
                raise ValueError(f"two thresholds for {rule.metric}")
            self._rules[rule.metric] = rule
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock if clock is not None else time.monotonic
        self._firing: set[str] = set()
        self._last_sent: dict[str, float] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._firing)

    def _deliver(self, status, rule, value) -> Notification:
        verb = rule.direction
        if status == "firing":
            subject = f"[FIRING] {rule.metric} is {value:g}, {verb} the threshold {rule.limit:g}"
        else:
            subject = f"[RESOLVED] {rule.metric} is {value:g}, no longer {verb} the threshold {rule.limit:g}"
        body = f"{rule.metric} = {value:g} (threshold: {verb} {rule.limit:g})"
        delivered = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            delivered = False
            log.error("alert delivery failed: %s", exc)
        return Notification(status, rule.metric, value, rule, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for metric, rule in self._rules.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            if _COMPARE[rule.direction](value, rule.limit):
                now = self.clock()
                last = self._last_sent.get(metric)
                if metric in self._firing and last is not None and now - last < self.cooldown_s:
                    continue
                self._firing.add(metric)
                n = self._deliver("firing", rule, value)
                if n.delivered:
                    self._last_sent[metric] = now
                sent.append(n)
            elif metric in self._firing:
                self._firing.discard(metric)
                self._last_sent.pop(metric, None)
                sent.append(self._deliver("resolved", rule, value))
        return sent

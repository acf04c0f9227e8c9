"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

Style: a small per-metric state object decides, the manager only dispatches;
mail goes out with MIMEText and SMTP.sendmail, closed in a finally block.
"""

from __future__ import annotations

import logging
import operator
import smtplib
import time
from dataclasses import dataclass, field
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
        self.recipients = list(recipients)
        if len(self.recipients) == 0:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = " ".join(subject.replace("\r", "\n").split("\n"))  # one header line
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        where = f"{self.host}:{self.port}"
        client = None
        try:
            client = smtplib.SMTP(timeout=self.timeout_s)
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, self.recipients, message.as_string())
        except (smtplib.SMTPException, OSError, UnicodeEncodeError) as problem:
            raise AlertDeliveryError(f"SMTP relay {where} failed: {problem!r}") from problem
        finally:
            if client is not None:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {where} refused recipients {list(refused)}")


@dataclass
class _MetricState:
    threshold: Threshold
    firing: bool = False
    last_delivered: float | None = field(default=None)

    def breached(self, value: float) -> bool:
        return _COMPARE[self.threshold.direction](value, self.threshold.limit)

    def decide(self, value: float, now: float, cooldown: float) -> str | None:
        if self.breached(value):
            if not self.firing:
                return "firing"
            if self.last_delivered is None or now - self.last_delivered >= cooldown:
                return "firing"
            return None
        return "resolved" if self.firing else None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not cooldown_s >= 0:
            raise ValueError(f"cooldown_s must be >= 0, got {cooldown_s}")
        self._states: dict[str, _MetricState] = {}
        for threshold in thresholds:
            if threshold.metric in self._states:
                raise ValueError(f"two thresholds for {threshold.metric!r}")
            self._states[threshold.metric] = _MetricState(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return {name for name, state in self._states.items() if state.firing}

    def _deliver(self, subject: str, body: str) -> bool:
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as problem:
            log.error("alert %r not delivered: %s", subject, problem)
            return False
        return True

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        for name, state in self._states.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            now = self.clock()
            status = state.decide(value, now, self.cooldown_s)
            if status is None:
                continue
            t = state.threshold
            if status == "firing":
                subject = f"[FIRING] {name} is {value:g}, {t.direction} the threshold {t.limit:g}"
                body = f"Metric: {name}\nValue: {value:g}\nThreshold: {t.direction} {t.limit:g}\n"
                state.firing = True
                delivered = self._deliver(subject, body)
                if delivered:
                    state.last_delivered = now
            else:
                subject = f"[RESOLVED] {name} is {value:g}, no longer {t.direction} the threshold {t.limit:g}"
                body = f"Metric: {name}\nValue: {value:g}\nThreshold: {t.direction} {t.limit:g}\nRecovered.\n"
                state.firing = False
                state.last_delivered = None
                delivered = self._deliver(subject, body)
            out.append(Notification(status, name, value, t, subject, delivered))
        return out

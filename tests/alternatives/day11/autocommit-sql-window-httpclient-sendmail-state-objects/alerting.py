"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP (state objects, MIMEText)."""

from __future__ import annotations

import logging
import operator
import smtplib
import time
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from typing import Callable, Iterable, Mapping, Protocol, Sequence

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
        mail = MIMEText(body, "plain", "utf-8")
        mail["Subject"] = Header(subject, "utf-8")
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        where = f"{self.host}:{self.port}"
        smtp = None
        try:
            smtp = smtplib.SMTP(timeout=self.timeout_s)
            smtp.connect(self.host, self.port)
            refused = smtp.sendmail(self.sender, self.recipients, mail.as_string())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"SMTP relay {where} failed: {error!r}") from error
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
        if refused:
            raise AlertDeliveryError(f"SMTP relay {where} refused {sorted(refused)}")


class _MetricState:
    def __init__(self, threshold: Threshold) -> None:
        self.threshold = threshold
        self.in_breach = False
        self.delivered_at: float | None = None

    def reminder_due(self, now: float, cooldown: float) -> bool:
        return self.delivered_at is None or now - self.delivered_at >= cooldown


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] | None = None) -> None:
        if not cooldown_s >= 0:
            raise ValueError(f"negative cooldown {cooldown_s}")
        self._states: dict[str, _MetricState] = {}
        for threshold in thresholds:
            if threshold.metric in self._states:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._states[threshold.metric] = _MetricState(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock if clock is not None else time.monotonic

    @property
    def firing(self) -> set[str]:
        return {metric for metric, state in self._states.items() if state.in_breach}

    def _deliver(self, status: str, state: _MetricState, value: float) -> Notification:
        t = state.threshold
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                t.metric, value, t.direction, t.limit)
        body = "\n".join([subject, "", f"metric    = {t.metric}", f"value     = {value}",
                          f"threshold = {t.direction} {t.limit}"])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("delivery of %s failed: %s", subject, error)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        now = self.clock()
        for metric, state in self._states.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = _COMPARE[state.threshold.direction](value, state.threshold.limit)
            if breached and (not state.in_breach or state.reminder_due(now, self.cooldown_s)):
                state.in_breach = True
                note = self._deliver("firing", state, value)
                if note.delivered:
                    state.delivered_at = now
                out.append(note)
            elif not breached and state.in_breach:
                state.in_breach = False
                state.delivered_at = None
                out.append(self._deliver("resolved", state, value))
        return out

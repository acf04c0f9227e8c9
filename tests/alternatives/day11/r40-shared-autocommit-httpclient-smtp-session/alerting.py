"""Correct answer B: a per-metric _Incident state object, subjects from a template table, and an SMTP
session driven step by step (ehlo/mail/rcpt/data) instead of sendmail."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_DIRECTIONS = {"above": lambda v, lim: v > lim, "below": lambda v, lim: v < lim}


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if not isinstance(self.direction, str) or self.direction not in _DIRECTIONS:
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

    def _message(self, subject: str, body: str) -> bytes:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["Subject"] = " ".join(subject.splitlines())
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body)
        return msg.as_bytes()

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        try:
            data = self._message(subject, body)
        except ValueError as e:
            raise AlertDeliveryError(f"{relay}: cannot build the message: {e}") from e
        smtp = smtplib.SMTP(timeout=self.timeout_s)
        try:
            code, reply = smtp.connect(self.host, self.port)
            if code != 220:
                raise AlertDeliveryError(f"{relay} turned us away: {code} {reply!r}")
            code, reply = smtp.ehlo()
            if code != 250:
                code, reply = smtp.helo()
                if code != 250:
                    raise AlertDeliveryError(f"{relay} refused the greeting: {code} {reply!r}")
            code, reply = smtp.mail(self.sender)
            if code != 250:
                raise AlertDeliveryError(f"{relay} refused the sender: {code} {reply!r}")
            for rcpt in self.recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise AlertDeliveryError(f"{relay} refused recipient {rcpt}: {code} {reply!r}")
            code, reply = smtp.data(data)
            if code != 250:
                raise AlertDeliveryError(f"{relay} refused the message: {code} {reply!r}")
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        except AlertDeliveryError:
            raise
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as e:
            raise AlertDeliveryError(f"delivery via {relay} failed: {e}") from e
        finally:
            smtp.close()


_SUBJECTS = {
    "firing": "[FIRING] {m} is {v:g}, {d} the threshold {l:g}",
    "resolved": "[RESOLVED] {m} is {v:g}, no longer {d} the threshold {l:g}",
}


@dataclass
class _Incident:
    threshold: Threshold
    active: bool = False
    last_delivered: float | None = None

    def due(self, now: float, cooldown: float) -> bool:
        if not self.active or self.last_delivered is None:
            return True
        return now - self.last_delivered >= cooldown


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._incidents: dict[str, _Incident] = {}
        for t in thresholds:
            if t.metric in self._incidents:
                raise ValueError(f"metric {t.metric!r} has more than one threshold")
            self._incidents[t.metric] = _Incident(t)
        if not cooldown_s >= 0:  # also rejects NaN
            raise ValueError(f"cooldown_s must be a non-negative number, got {cooldown_s!r}")
        self.thresholds = [i.threshold for i in self._incidents.values()]
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(m for m, inc in self._incidents.items() if inc.active)

    def _send(self, status: str, t: Threshold, value: float) -> Notification:
        subject = _SUBJECTS[status].format(m=t.metric, v=value, d=t.direction, l=t.limit)
        body = f"{status.upper()}: metric {t.metric} has value {value:g}; threshold: {t.direction} {t.limit:g}."
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as err:
            log.error("alert %s not delivered: %s", subject, err)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for metric, inc in self._incidents.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            t = inc.threshold
            if _DIRECTIONS[t.direction](value, t.limit):
                now = self.clock()
                if inc.due(now, self.cooldown_s):
                    inc.active = True
                    n = self._send("firing", t, value)
                    if n.delivered:
                        inc.last_delivered = now
                    sent.append(n)
            elif inc.active:
                inc.active = False
                inc.last_delivered = None
                sent.append(self._send("resolved", t, value))
        return sent

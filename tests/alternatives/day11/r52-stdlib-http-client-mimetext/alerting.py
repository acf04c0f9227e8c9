"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP.

Standard-library flavour: per-metric state objects, operator-based comparisons,
and an SMTP session driven command by command.
"""

from __future__ import annotations

import logging
import math
import operator
import smtplib
import time
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate
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
        try:
            known = self.direction in _COMPARE
        except TypeError:  # unhashable, e.g. a list
            raise TypeError(f"direction must be 'above' or 'below', not {self.direction!r}") from None
        if not known:
            raise ValueError(f"direction must be 'above' or 'below', not {self.direction!r}")
        if self.limit != self.limit:
            raise ValueError("a NaN limit never fires")


@dataclass(frozen=True)
class Notification:
    status: str  # "firing" or "resolved"
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
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def _fail(self, why: str) -> AlertDeliveryError:
        return AlertDeliveryError(f"SMTP relay {self.host}:{self.port}: {why}")

    def send(self, subject: str, body: str) -> None:
        if subject != " ".join(subject.splitlines()) or "\x85" in subject:
            for brk in ("\n", "\r", "\u2028", "\u2029", "\x85"):
                if brk in subject:
                    raise self._fail(f"subject holds a line break: {subject!r}")
        try:
            message = MIMEText(body, "plain", "utf-8")
            message["Subject"] = Header(subject, "utf-8")
            message["From"] = self.sender
            message["To"] = ", ".join(self.recipients)
            message["Date"] = formatdate(localtime=True)
            payload = message.as_bytes()
        except (ValueError, UnicodeError) as exc:
            raise self._fail(f"cannot build the message: {exc}") from exc
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            client.ehlo_or_helo_if_needed()
            code, reply = client.mail(self.sender)
            if code != 250:
                raise self._fail(f"sender refused: {code} {reply!r}")
            for rcpt in self.recipients:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise self._fail(f"recipient {rcpt} refused: {code} {reply!r}")
            code, reply = client.data(payload)
            if code != 250:
                raise self._fail(f"message refused: {code} {reply!r}")
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
        except (OSError, smtplib.SMTPException, UnicodeError) as exc:
            raise self._fail(str(exc) or type(exc).__name__) from exc
        finally:
            client.close()


class _MetricState:
    __slots__ = ("firing", "last_delivered")

    def __init__(self) -> None:
        self.firing = False
        self.last_delivered: float | None = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rules: dict[str, Threshold] = {}
        for rule in thresholds:
            if rule.metric in rules:
                raise ValueError(f"{rule.metric!r} has more than one threshold")
            rules[rule.metric] = rule
        if not cooldown_s >= 0:  # also refuses NaN
            raise ValueError(f"invalid cooldown {cooldown_s!r}")
        self.thresholds = list(rules.values())
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._state = {metric: _MetricState() for metric in rules}

    @property
    def firing(self) -> set[str]:
        return set(metric for metric, state in self._state.items() if state.firing)

    def _send(self, status: str, rule: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(rule.metric, value, rule.direction, rule.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                rule.metric, value, rule.direction, rule.limit)
        body = "\n".join([
            f"Metric:    {rule.metric}",
            f"Value:     {value}",
            f"Threshold: {rule.direction} {float(rule.limit)}",
            f"Status:    {status}",
        ]) + "\n"
        delivered = False
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as exc:
            log.error("could not deliver %s alert for %s: %s", status, rule.metric, exc)
        return Notification(status=status, metric=rule.metric, value=value, threshold=rule,
                            subject=subject, delivered=delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out: list[Notification] = []
        for rule in self.thresholds:
            raw = metrics.get(rule.metric)
            if raw is None:
                continue
            value = float(raw)
            if math.isnan(value):
                continue
            state = self._state[rule.metric]
            now = self.clock()
            if _COMPARE[rule.direction](value, rule.limit):
                due = (not state.firing or state.last_delivered is None
                       or now - state.last_delivered >= self.cooldown_s)
                state.firing = True
                if due:
                    note = self._send("firing", rule, value)
                    if note.delivered:
                        state.last_delivered = now
                    out.append(note)
            elif state.firing:
                state.firing = False
                state.last_delivered = None
                out.append(self._send("resolved", rule, value))
        return out

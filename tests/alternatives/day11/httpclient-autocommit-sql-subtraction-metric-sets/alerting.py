"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.mime.text import MIMEText
from email.header import Header
from email.utils import formatdate
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_OPS = {"above": lambda v, lim: v > lim, "below": lambda v, lim: v < lim}


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in _OPS:
            raise ValueError(self.direction)
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
    def send(self, subject: str, body: str) -> None:
        """Deliver one message."""


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout_s: float = 10.0) -> None:
        if len(recipients) == 0:
            raise ValueError("no recipients")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = MIMEText(body, "plain", "utf-8")
        msg["Subject"] = Header(subject, "utf-8")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate()
        where = "%s:%s" % (self.host, self.port)
        smtp = smtplib.SMTP(timeout=self.timeout_s)
        try:
            try:
                smtp.connect(self.host, self.port)
                refused = smtp.sendmail(self.sender, self.recipients, msg.as_string())
            except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
                raise AlertDeliveryError("delivery via %s failed: %s" % (where, exc)) from exc
            if refused:
                raise AlertDeliveryError("%s refused recipients %s" % (where, sorted(refused)))
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        finally:
            smtp.close()


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier,
                 cooldown_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_metric: dict[str, Threshold] = {}
        for t in thresholds:
            if t.metric in self._by_metric:
                raise ValueError("duplicate threshold for %s" % t.metric)
            self._by_metric[t.metric] = t
        if not cooldown_s >= 0:
            raise ValueError("cooldown must be >= 0")
        self.thresholds = list(self._by_metric.values())
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: set[str] = set()
        self._last_sent: dict[str, float] = {}

    @property
    def firing(self) -> set[str]:
        return set(self._firing)

    def _send(self, status, t, value):
        if status == "firing":
            subject = "[FIRING] %s is %s, %s the threshold %s" % (t.metric, format(value, "g"), t.direction, format(t.limit, "g"))
        else:
            subject = "[RESOLVED] %s is %s, no longer %s the threshold %s" % (t.metric, format(value, "g"), t.direction, format(t.limit, "g"))
        body = "\n".join([subject, "", "metric: %s" % t.metric, "value: %s" % value,
                          "threshold: %s (%s)" % (t.limit, t.direction)])
        ok = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            ok = False
            log.error("alert %s not delivered: %s", subject, exc)
        return Notification(status=status, metric=t.metric, value=value, threshold=t, subject=subject, delivered=ok)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for name, t in self._by_metric.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            bad = _OPS[t.direction](value, t.limit)
            if bad:
                now = self.clock()
                due = (name not in self._firing or name not in self._last_sent
                       or now - self._last_sent[name] >= self.cooldown_s)
                if due:
                    self._firing.add(name)
                    n = self._send("firing", t, value)
                    if n.delivered:
                        self._last_sent[name] = now
                    sent.append(n)
            elif name in self._firing:
                self._firing.discard(name)
                self._last_sent.pop(name, None)
                sent.append(self._send("resolved", t, value))
        return sent

"""Threshold alerts: an incident object per metric, MIMEText mail over an explicit smtplib session."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_DIRECTIONS = {"above": (lambda v, lim: v > lim), "below": (lambda v, lim: v < lim)}


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if type(self.direction) is not str:
            raise TypeError(f"direction must be text, got {self.direction!r}")
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be 'above' or 'below', got {self.direction!r}")
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
        recipients = list(recipients)
        if len(recipients) == 0:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host, self.port, self.sender, self.recipients, self.timeout_s = host, port, sender, recipients, timeout_s

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        one_line = " ".join(subject.splitlines()) if subject else subject
        msg = MIMEText(body, "plain", "utf-8")
        msg["Subject"] = Header(one_line, "utf-8")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, self.recipients, msg.as_bytes())
            if refused:
                raise AlertDeliveryError(f"relay {relay} refused {sorted(refused)}")
            client.quit()
        except (OSError, smtplib.SMTPException, UnicodeError) as exc:
            raise AlertDeliveryError(f"relay {relay}: {exc!r}") from exc
        finally:
            client.close()


@dataclass
class _Incident:
    threshold: Threshold
    firing: bool = False
    last_delivered: float | None = None


class AlertManager:
    def __init__(
        self,
        thresholds: Iterable[Threshold],
        notifier: Notifier,
        cooldown_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"a second threshold for {threshold.metric!r}")
            self._incidents[threshold.metric] = _Incident(threshold)
        if not (cooldown_s >= 0):  # also catches NaN
            raise ValueError(f"cooldown_s must be a non-negative number, got {cooldown_s!r}")
        self.thresholds = [i.threshold for i in self._incidents.values()]
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(name for name, inc in self._incidents.items() if inc.firing)

    def _send(self, status: str, inc: _Incident, value) -> Notification:
        t = inc.threshold
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                t.metric, value, t.direction, t.limit)
        body = "\n".join([
            f"{status.upper()}: metric {t.metric}",
            f"current value: {value!r}",
            f"threshold: {t.direction} {t.limit!r}",
        ])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as err:
            log.error("alert %s not delivered: %s", subject, err)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for name, inc in self._incidents.items():
            if name not in metrics:
                continue
            value = metrics[name]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = _DIRECTIONS[inc.threshold.direction](value, inc.threshold.limit)
            if breached:
                now = self.clock()
                due = (not inc.firing or inc.last_delivered is None
                       or now - inc.last_delivered >= self.cooldown_s)
                inc.firing = True
                if due:
                    note = self._send("firing", inc, value)
                    if note.delivered:
                        inc.last_delivered = now
                    sent.append(note)
            elif inc.firing:
                inc.firing = False
                inc.last_delivered = None
                sent.append(self._send("resolved", inc, value))
        return sent

"""Style B: one mutable incident object per metric; smtplib connect/sendmail with explicit quit."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.mime.text import MIMEText
from email.header import Header
from email.utils import formataddr
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")

_DIRECTIONS = {"above": lambda v, lim: v > lim, "below": lambda v, lim: v < lim}


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


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
        self.recipients = tuple(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = MIMEText(body, "plain", "utf-8")
        msg["Subject"] = Header(subject, "utf-8")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        relay = f"{self.host}:{self.port}"
        client = smtplib.SMTP(timeout=self.timeout_s)
        try:
            client.connect(self.host, self.port)
            refused = client.sendmail(self.sender, list(self.recipients), msg.as_bytes())
            if refused:
                raise AlertDeliveryError(f"relay {relay} refused {sorted(refused)}")
        except (smtplib.SMTPException, UnicodeEncodeError) as error:
            raise AlertDeliveryError(f"SMTP error from {relay}: {error}") from error
        except OSError as error:
            raise AlertDeliveryError(f"cannot reach {relay}: {error}") from error
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


@dataclass
class _Incident:
    threshold: Threshold
    open: bool = False
    last_delivered: float | None = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"{threshold.metric} has two thresholds")
            self._incidents[threshold.metric] = _Incident(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(metric for metric, inc in self._incidents.items() if inc.open)

    def _send(self, status: str, threshold: Threshold, value: float) -> Notification:
        word = threshold.direction
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(threshold.metric, value, word, threshold.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                threshold.metric, value, word, threshold.limit)
        body = "\n".join([
            f"{status.upper()}: {threshold.metric}",
            f"current value: {value:g}",
            f"threshold: {word} {threshold.limit:g}",
        ])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("alert %s not delivered: %s", subject, error)
            return Notification(status, threshold.metric, value, threshold, subject, False)
        return Notification(status, threshold.metric, value, threshold, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent = []
        for metric, inc in self._incidents.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = _DIRECTIONS[inc.threshold.direction](value, inc.threshold.limit)
            if breached:
                now = self.clock()
                due = (not inc.open or inc.last_delivered is None
                       or now - inc.last_delivered >= self.cooldown_s)
                inc.open = True
                if due:
                    n = self._send("firing", inc.threshold, value)
                    if n.delivered:
                        inc.last_delivered = now
                    sent.append(n)
            elif inc.open:
                inc.open = False
                inc.last_delivered = None
                sent.append(self._send("resolved", inc.threshold, value))
        return sent

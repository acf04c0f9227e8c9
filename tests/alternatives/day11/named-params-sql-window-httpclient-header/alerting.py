"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

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
            raise ValueError("no recipients")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = MIMEText(body, "plain", "utf-8")
        msg["Subject"] = Header(subject, "utf-8")
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        relay = None
        try:
            relay = smtplib.SMTP(timeout=self.timeout_s)
            relay.connect(self.host, self.port)
            refused = relay.sendmail(self.sender, self.recipients, msg.as_string())
        except (smtplib.SMTPException, OSError, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"relay {self.host}:{self.port} failed: {exc!r}") from exc
        finally:
            if relay is not None:
                try:
                    relay.quit()
                except (smtplib.SMTPException, OSError):
                    relay.close()
        if refused:
            raise AlertDeliveryError(f"relay {self.host}:{self.port} refused recipients {list(refused)}")


class _Incident:
    __slots__ = ("threshold", "active", "delivered_at")

    def __init__(self, threshold: Threshold) -> None:
        self.threshold = threshold
        self.active = False
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
            raise ValueError("negative cooldown")
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._incidents[threshold.metric] = _Incident(threshold)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return {name for name, inc in self._incidents.items() if inc.active}

    def _deliver(self, status: str, inc: _Incident, value: float) -> Notification:
        t = inc.threshold
        prefix, verb = ("[FIRING]", t.direction) if status == "firing" else ("[RESOLVED]", f"no longer {t.direction}")
        subject = f"{prefix} {t.metric} is {value:g}, {verb} the threshold {t.limit:g}"
        body = f"The metric {t.metric} is {value:g} ({verb} the threshold {t.limit:g})."
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("alert %s not delivered: %s", t.metric, exc)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for name, inc in self._incidents.items():
            try:
                value = metrics[name]
            except KeyError:
                continue
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breached = _COMPARE[inc.threshold.direction](value, inc.threshold.limit)
            if breached:
                due = (not inc.active or inc.delivered_at is None
                       or self.clock() - inc.delivered_at >= self.cooldown_s)
                inc.active = True
                if due:
                    note = self._deliver("firing", inc, value)
                    if note.delivered:
                        inc.delivered_at = self.clock()
                    sent.append(note)
            elif inc.active:
                inc.active = False
                inc.delivered_at = None
                sent.append(self._deliver("resolved", inc, value))
        return sent

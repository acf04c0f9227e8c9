"""Threshold alerts with a cooldown and recovery notices, delivered over real SMTP."""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction must be 'above' or 'below', not {self.direction!r}")
        if self.limit != self.limit:  # NaN (a config left empty): the rule would never fire
            raise ValueError(f"the limit of {self.metric!r} is NaN")

    def breached_by(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit


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
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        if not self.recipients:
            raise ValueError("at least one recipient is needed")
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = EmailMessage(policy=SMTP_POLICY)
        if len(subject.splitlines()) > 1:  # EmailMessage would raise ValueError
            raise AlertDeliveryError(f"cannot send a subject holding a line break: {subject!r}")
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body)
        relay = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as s:
                refused = s.sendmail(self.sender, self.recipients, msg.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as e:
            raise AlertDeliveryError(f"cannot deliver through {relay}: {e}") from e
        if refused:
            raise AlertDeliveryError(f"{relay} refused {refused}")


@dataclass
class _State:
    firing: bool = False
    last: float | None = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier,
                 cooldown_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = list(thresholds)
        names = [t.metric for t in self.thresholds]
        if len(set(names)) != len(names):
            raise ValueError("two thresholds for one metric")
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._state = {t.metric: _State() for t in self.thresholds}

    @property
    def firing(self) -> set[str]:
        return {m for m, s in self._state.items() if s.firing}

    def _notify(self, status: str, t: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = f"[FIRING] {t.metric} is {value:g}, {t.direction} the threshold {t.limit:g}"
        else:
            subject = f"[RESOLVED] {t.metric} is {value:g}, no longer {t.direction} the threshold {t.limit:g}"
        body = f"Metric {t.metric} has value {value:g}; threshold {t.limit:g} ({t.direction}).\n"
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as e:
            log.error("could not deliver %r: %s", subject, e)
            delivered = False
        return Notification(status, t.metric, value, t, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out = []
        for t in self.thresholds:
            if t.metric not in metrics:
                continue
            value = metrics[t.metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            st = self._state[t.metric]
            now = self.clock()
            if t.breached_by(value):
                if not st.firing or st.last is None or now - st.last >= self.cooldown_s:
                    st.firing = True
                    n = self._notify("firing", t, value)
                    if n.delivered:
                        st.last = now
                    out.append(n)
            elif st.firing:
                st.firing = False
                st.last = None
                out.append(self._notify("resolved", t, value))
        return out

"""Alt B: per-metric state objects, methods on Threshold, EmailMessage + sendmail."""
from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_OPS = {"above": lambda v, lim: v > lim, "below": lambda v, lim: v < lim}


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

    def breached_by(self, value: float) -> bool:
        return _OPS[self.direction](value, self.limit)


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
            raise ValueError("recipients is empty")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = tuple(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        message = EmailMessage(policy=SMTP_POLICY)
        try:
            message["Subject"] = subject
        except ValueError as err:  # a line break: a header is one line
            raise AlertDeliveryError(f"subject {subject!r} cannot be a mail header: {err}") from err
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(body)
        relay = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                refused = smtp.sendmail(self.sender, list(self.recipients), message.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as err:
            raise AlertDeliveryError(f"SMTP relay {relay} failed: {err!r}") from err
        if refused:
            raise AlertDeliveryError(f"SMTP relay {relay} refused {', '.join(refused)}")


@dataclass
class _MetricState:
    firing: bool = False
    last_delivered: Optional[float] = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = tuple(thresholds)
        self._state: dict[str, _MetricState] = {}
        for t in self.thresholds:
            if t.metric in self._state:
                raise ValueError(f"two thresholds for {t.metric}")
            self._state[t.metric] = _MetricState()
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(name for name, s in self._state.items() if s.firing)

    def _send(self, status: str, t: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        body = (f"{subject}\n\nThe metric {t.metric} is now {value:g}; the threshold is {t.limit:g} "
                f"({t.direction}).\n")
        delivered = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as err:
            delivered = False
            log.error("could not deliver %s: %s", subject, err)
        return Notification(status, t.metric, value, t, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for t in self.thresholds:
            value = metrics.get(t.metric)
            if value is None or value != value:  # missing, or NaN: no measurement
                continue
            st = self._state[t.metric]
            now = self.clock()
            if t.breached_by(value):
                due = (not st.firing) or st.last_delivered is None or (now - st.last_delivered >= self.cooldown_s)
                st.firing = True
                if due:
                    n = self._send("firing", t, value)
                    if n.delivered:
                        st.last_delivered = now
                    sent.append(n)
            elif st.firing:
                st.firing = False
                st.last_delivered = None
                sent.append(self._send("resolved", t, value))
        return sent

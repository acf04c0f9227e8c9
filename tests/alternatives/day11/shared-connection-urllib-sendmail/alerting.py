"""Correct answer B: operator-based thresholds, a per-metric state object, SMTP.sendmail."""
from __future__ import annotations

import logging
import operator
import smtplib
import socket
import time
from dataclasses import dataclass, field
from email.mime.text import MIMEText
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

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
            raise ValueError("direction: " + repr(self.direction))
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
        self.recipients = [r for r in recipients]
        if len(self.recipients) == 0:
            raise ValueError("SmtpNotifier needs a recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        mime = MIMEText(body, "plain", "utf-8")
        if any(c in subject for c in "\r\n"):
            raise AlertDeliveryError(f"subject {subject!r} would break the header block")
        mime["Subject"] = subject
        mime["From"] = self.sender
        mime["To"] = ", ".join(self.recipients)
        relay = "%s:%s" % (self.host, self.port)
        smtp = smtplib.SMTP(timeout=self.timeout_s)
        try:
            smtp.connect(self.host, self.port)
            refused = smtp.sendmail(self.sender, self.recipients, mime.as_string())
            if refused:
                raise AlertDeliveryError(f"relay {relay} refused {sorted(refused)}")
        except (smtplib.SMTPException, socket.timeout, ConnectionError, OSError, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"relay {relay}: {exc!r}") from exc
        finally:
            try:
                smtp.close()
            except Exception:
                pass


@dataclass
class _State:
    threshold: Threshold
    firing: bool = False
    delivered_at: Optional[float] = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must be >= 0")
        self._states: dict[str, _State] = {}
        for t in thresholds:
            if t.metric in self._states:
                raise ValueError(f"two thresholds for {t.metric}")
            self._states[t.metric] = _State(t)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(m for m, s in self._states.items() if s.firing)

    def _deliver(self, status: str, state: _State, value: float) -> Notification:
        t = state.threshold
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        body = "\n".join([
            f"Metric {t.metric} = {value} ({status})",
            f"Threshold: {t.direction} {t.limit}",
        ])
        delivered = False
        try:
            self.notifier.send(subject, body)
            delivered = True
        except AlertDeliveryError as err:
            log.error("could not deliver %s: %s", subject, err)
        return Notification(status, t.metric, value, t, subject, delivered)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        results: list[Notification] = []
        for metric, state in self._states.items():
            value = metrics.get(metric)
            if value is None or value != value:  # missing, or NaN: no measurement
                continue
            now = self.clock()
            if _COMPARE[state.threshold.direction](value, state.threshold.limit):
                due = (not state.firing or state.delivered_at is None
                       or now - state.delivered_at >= self.cooldown_s)
                state.firing = True
                if due:
                    n = self._deliver("firing", state, value)
                    if n.delivered:
                        state.delivered_at = now
                    results.append(n)
            elif state.firing:
                state.firing = False
                state.delivered_at = None
                results.append(self._deliver("resolved", state, value))
        return results

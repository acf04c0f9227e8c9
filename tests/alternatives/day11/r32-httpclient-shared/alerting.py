"""Style: per-metric incident objects, sendmail with explicit envelope, enum-free string state."""
from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.mime.text import MIMEText
from email.header import Header
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

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
        relay = "%s:%s" % (self.host, self.port)
        smtp = None
        try:
            smtp = smtplib.SMTP(timeout=self.timeout_s)
            smtp.connect(self.host, self.port)
            refused = smtp.sendmail(self.sender, self.recipients, msg.as_string())
            smtp.quit()
        except (smtplib.SMTPException, OSError, UnicodeEncodeError) as exc:
            raise AlertDeliveryError("mail relay %s failed: %r" % (relay, exc)) from exc
        finally:
            if smtp is not None:
                smtp.close()
        if refused:
            raise AlertDeliveryError("mail relay %s refused recipients %s" % (relay, sorted(refused)))


@dataclass
class _Incident:
    open: bool = False
    delivered_at: Optional[float] = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must be >= 0")
        self._rules: dict[str, Threshold] = {}
        for t in thresholds:
            if t.metric in self._rules:
                raise ValueError(f"duplicate threshold for {t.metric}")
            self._rules[t.metric] = t
        self.thresholds = list(self._rules.values())
        self._state = {m: _Incident() for m in self._rules}
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(m for m, s in self._state.items() if s.open)

    def _send(self, status: str, rule: Threshold, value: float) -> Notification:
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(rule.metric, value, rule.direction, rule.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                rule.metric, value, rule.direction, rule.limit)
        body = "Metric {} has value {:g} (threshold: {} {:g}).".format(rule.metric, value, rule.direction, rule.limit)
        ok = True
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            ok = False
            log.error("alert %s not delivered: %s", rule.metric, exc)
        return Notification(status=status, metric=rule.metric, value=value, threshold=rule, subject=subject,
                            delivered=ok)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        sent: list[Notification] = []
        for metric, rule in self._rules.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            st = self._state[metric]
            if _OPS[rule.direction](value, rule.limit):
                now = self.clock()
                due = (not st.open) or st.delivered_at is None or (now - st.delivered_at >= self.cooldown_s)
                st.open = True
                if due:
                    n = self._send("firing", rule, value)
                    if n.delivered:
                        st.delivered_at = now
                    sent.append(n)
            elif st.open:
                self._state[metric] = _Incident()
                sent.append(self._send("resolved", rule, value))
        return sent

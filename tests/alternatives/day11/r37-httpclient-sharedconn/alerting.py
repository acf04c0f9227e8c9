"""Per-metric incident objects; SMTP spoken step by step (ehlo, mail, rcpt, data)."""
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


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction != "above" and self.direction != "below":
            raise ValueError("direction: 'above' or 'below'")
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
            raise ValueError("no recipients")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        relay = f"{self.host}:{self.port}"
        message = EmailMessage(policy=SMTP_POLICY)
        try:
            message["Subject"] = subject
        except ValueError as exc:  # a line break: a header is one line
            raise AlertDeliveryError(f"{relay}: subject {subject!r} cannot be a header: {exc}") from exc
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(body)
        raw = message.as_bytes()
        smtp = smtplib.SMTP(timeout=self.timeout_s)
        try:
            code, banner = smtp.connect(self.host, self.port)
            if code != 220:
                raise AlertDeliveryError(f"{relay} greeted with {code} {banner!r}")
            code, text = smtp.ehlo()
            if code != 250:
                code, text = smtp.helo()
                if code != 250:
                    raise AlertDeliveryError(f"{relay} refused HELO: {code} {text!r}")
            code, text = smtp.mail(self.sender)
            if code != 250:
                raise AlertDeliveryError(f"{relay} refused sender: {code} {text!r}")
            for rcpt in self.recipients:
                code, text = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise AlertDeliveryError(f"{relay} refused recipient {rcpt}: {code} {text!r}")
            code, text = smtp.data(raw)
            if code != 250:
                raise AlertDeliveryError(f"{relay} refused the message: {code} {text!r}")
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        except AlertDeliveryError:
            raise
        except (OSError, smtplib.SMTPException, UnicodeError) as exc:
            raise AlertDeliveryError(f"delivery through {relay} failed: {exc!r}") from exc
        finally:
            smtp.close()


@dataclass
class _Incident:
    threshold: Threshold
    active: bool = False
    last_sent: Optional[float] = None


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (cooldown_s >= 0):
            raise ValueError(f"cooldown_s must be a non-negative number, got {cooldown_s!r}")
        self._incidents: dict[str, _Incident] = {}
        for t in thresholds:
            if t.metric in self._incidents:
                raise ValueError(f"more than one threshold for {t.metric!r}")
            self._incidents[t.metric] = _Incident(t)
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return set(m for m, inc in self._incidents.items() if inc.active)

    def _send(self, status: str, inc: _Incident, value) -> Notification:
        t = inc.threshold
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                t.metric, value, t.direction, t.limit)
        body = "\n".join([f"metric: {t.metric}", f"value: {value!r}", f"threshold: {t.direction} {t.limit!r}", ""])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as exc:
            log.error("could not deliver %s: %s", subject, exc)
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
            bad = value > t.limit if t.direction == "above" else value < t.limit
            if bad:
                now = self.clock()
                due = (not inc.active) or inc.last_sent is None or (now - inc.last_sent) >= self.cooldown_s
                inc.active = True
                if due:
                    n = self._send("firing", inc, value)
                    if n.delivered:
                        inc.last_sent = now
                    sent.append(n)
            elif inc.active:
                inc.active = False
                inc.last_sent = None
                sent.append(self._send("resolved", inc, value))
        return sent

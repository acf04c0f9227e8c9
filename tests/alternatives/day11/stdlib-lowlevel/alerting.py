"""Alt: one small state object per metric, SMTP spoken command by command."""
from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.mime.text import MIMEText
from typing import Callable, Iterable, Mapping, Optional, Protocol, Sequence

log = logging.getLogger("alerting")


class AlertDeliveryError(Exception):
    """The alert could not be handed to the mail relay."""


_DIRECTIONS = {"above": lambda value, limit: value > limit, "below": lambda value, limit: value < limit}


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    direction: str = "above"

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
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
        recipients = list(recipients)
        if len(recipients) == 0:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.timeout_s = timeout_s

    def _fail(self, what: str) -> AlertDeliveryError:
        return AlertDeliveryError(f"SMTP relay {self.host}:{self.port}: {what}")

    def send(self, subject: str, body: str) -> None:
        if "\n" in subject or "\r" in subject:
            raise self._fail(f"subject {subject!r} holds a line break")
        message = MIMEText(body, "plain", "utf-8")
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise self._fail(f"cannot connect ({error})") from error
        try:
            client.ehlo_or_helo_if_needed()
            code, reply = client.mail(self.sender)
            if code != 250:
                raise self._fail(f"sender refused: {code} {reply!r}")
            for rcpt in self.recipients:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise self._fail(f"recipient {rcpt} refused: {code} {reply!r}")
            code, reply = client.data(message.as_bytes())
            if code != 250:
                raise self._fail(f"message refused: {code} {reply!r}")
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as error:
            raise self._fail(str(error)) from error
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


class _Incident:
    def __init__(self, threshold: Threshold) -> None:
        self.threshold = threshold
        self.active = False
        self.delivered_at: Optional[float] = None

    def breached(self, value: float) -> bool:
        return _DIRECTIONS[self.threshold.direction](value, self.threshold.limit)


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not cooldown_s >= 0:
            raise ValueError(f"cooldown_s must be >= 0, got {cooldown_s}")
        self._incidents: dict[str, _Incident] = {}
        for threshold in thresholds:
            if threshold.metric in self._incidents:
                raise ValueError(f"two thresholds for {threshold.metric}")
            self._incidents[threshold.metric] = _Incident(threshold)
        self.thresholds = [i.threshold for i in self._incidents.values()]
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def firing(self) -> set[str]:
        return {metric for metric, incident in self._incidents.items() if incident.active}

    def _send(self, status: str, incident: _Incident, value: float) -> Notification:
        t = incident.threshold
        if status == "firing":
            subject = "[FIRING] {} is {:g}, {} the threshold {:g}".format(t.metric, value, t.direction, t.limit)
        else:
            subject = "[RESOLVED] {} is {:g}, no longer {} the threshold {:g}".format(
                t.metric, value, t.direction, t.limit)
        body = "\n".join([f"Metric {t.metric} = {value:g}", f"Threshold: {t.direction} {t.limit:g}", f"State: {status}"])
        try:
            self.notifier.send(subject, body)
        except AlertDeliveryError as error:
            log.error("alert %s not delivered: %s", subject, error)
            return Notification(status, t.metric, value, t, subject, False)
        return Notification(status, t.metric, value, t, subject, True)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        results: list[Notification] = []
        for metric, incident in self._incidents.items():
            if metric not in metrics:
                continue
            value = metrics[metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            if incident.breached(value):
                now = self.clock()
                due = (not incident.active or incident.delivered_at is None
                       or now - incident.delivered_at >= self.cooldown_s)
                incident.active = True
                if due:
                    note = self._send("firing", incident, value)
                    if note.delivered:
                        incident.delivered_at = now
                    results.append(note)
            elif incident.active:
                incident.active = False
                incident.delivered_at = None
                results.append(self._send("resolved", incident, value))
        return results

"""Alt A: dict-based state, smtplib.sendmail with a hand-built message."""
from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.mime.text import MIMEText
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
        if not self.recipients:
            raise ValueError("at least one recipient is needed")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = MIMEText(body, "plain", "utf-8")
        if "\r" in subject or "\n" in subject:  # compat32 writes it as given: the rest would be a header
            raise AlertDeliveryError(f"subject {subject!r} holds a line break: not sent")
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        server = None
        try:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            refused = server.sendmail(self.sender, self.recipients, msg.as_string())
            if refused:
                raise AlertDeliveryError(f"relay {self.host}:{self.port} refused {sorted(refused)}")
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as exc:
            raise AlertDeliveryError(f"cannot deliver through {self.host}:{self.port}: {exc}") from exc
        finally:
            if server is not None:
                try:
                    server.quit()
                except (OSError, smtplib.SMTPException):
                    server.close()


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = list(thresholds)
        names = [t.metric for t in self.thresholds]
        if len(names) != len(set(names)):
            raise ValueError("one threshold per metric")
        if not cooldown_s >= 0:
            raise ValueError("cooldown_s must not be negative")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: dict[str, bool] = {n: False for n in names}
        self._last: dict[str, float | None] = {n: None for n in names}

    @property
    def firing(self) -> set[str]:
        return {m for m, f in self._firing.items() if f}

    def _notify(self, status, t, value):
        word = "above" if t.direction == "above" else "below"
        if status == "firing":
            subject = f"[FIRING] {t.metric} is {value:g}, {word} the threshold {t.limit:g}"
        else:
            subject = f"[RESOLVED] {t.metric} is {value:g}, no longer {word} the threshold {t.limit:g}"
        body = f"metric: {t.metric}\nvalue: {value:g}\nthreshold: {word} {t.limit:g}\n"
        try:
            self.notifier.send(subject, body)
            ok = True
        except AlertDeliveryError as exc:
            log.error("alert %r not delivered: %s", subject, exc)
            ok = False
        return Notification(status, t.metric, value, t, subject, ok)

    def evaluate(self, metrics: Mapping[str, float]) -> list[Notification]:
        out = []
        now = self.clock()
        for t in self.thresholds:
            if t.metric not in metrics:
                continue
            value = metrics[t.metric]
            if value != value:  # NaN: no measurement, as if missing this tick
                continue
            breach = value > t.limit if t.direction == "above" else value < t.limit
            if breach:
                last = self._last[t.metric]
                if not self._firing[t.metric] or last is None or now - last >= self.cooldown_s:
                    self._firing[t.metric] = True
                    n = self._notify("firing", t, value)
                    if n.delivered:
                        self._last[t.metric] = now
                    out.append(n)
            elif self._firing[t.metric]:
                self._firing[t.metric] = False
                self._last[t.metric] = None
                out.append(self._notify("resolved", t, value))
        return out

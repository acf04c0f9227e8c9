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
            raise ValueError(f"direction must be 'above' or 'below', got {self.direction!r}")
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
    def send(self, subject: str, body: str) -> None: ...


class SmtpNotifier:
    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout_s: float = 10.0) -> None:
        if not recipients:
            raise ValueError("at least one recipient")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout_s = timeout_s

    def send(self, subject: str, body: str) -> None:
        msg = EmailMessage(policy=SMTP_POLICY)
        try:
            msg["Subject"] = subject
        except ValueError:  # EmailMessage refuses a line break: a header is one line
            raise AlertDeliveryError(f"subject {subject!r} has a line break, cannot be a header") from None
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(body)
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as s:
                refused = s.sendmail(self.sender, self.recipients, msg.as_bytes())
        except (OSError, smtplib.SMTPException, UnicodeEncodeError) as e:
            raise AlertDeliveryError(f"could not deliver through {where}: {e}") from e
        if refused:
            raise AlertDeliveryError(f"{where} refused {refused}")


class AlertManager:
    def __init__(self, thresholds: Iterable[Threshold], notifier: Notifier, cooldown_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.thresholds = list(thresholds)
        metrics = [t.metric for t in self.thresholds]
        if len(set(metrics)) != len(metrics):
            raise ValueError("two thresholds for one metric")
        if not cooldown_s >= 0:
            raise ValueError("negative cooldown")
        self.notifier = notifier
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._firing: dict[str, bool] = {m: False for m in metrics}
        self._last: dict[str, float | None] = {m: None for m in metrics}

    @property
    def firing(self) -> set[str]:
        return {m for m, f in self._firing.items() if f}

    def _notify(self, status, t, value):
        if status == "firing":
            subject = f"[FIRING] {t.metric} is {value:g}, {t.direction} the threshold {t.limit:g}"
        else:
            subject = f"[RESOLVED] {t.metric} is {value:g}, no longer {t.direction} the threshold {t.limit:g}"
        body = f"metric: {t.metric}\nvalue: {value}\nthreshold: {t.direction} {t.limit}\n"
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
            m = t.metric
            if t.breached_by(value):
                now = self.clock()
                last = self._last[m]
                if not self._firing[m] or last is None or now - last >= self.cooldown_s:
                    self._firing[m] = True
                    n = self._notify("firing", t, value)
                    if n.delivered:
                        self._last[m] = now
                    out.append(n)
            elif self._firing[m]:
                self._firing[m] = False
                self._last[m] = None
                out.append(self._notify("resolved", t, value))
        return out

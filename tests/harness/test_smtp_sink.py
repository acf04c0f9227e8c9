"""The loopback SMTP server: refuses all, some or no recipients, as a relay does."""

import smtplib
from email.message import EmailMessage

import pytest

from mlops_katas.infra.smtp import SmtpSink


def _send(sink: SmtpSink, *to: str) -> dict:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "probe@example.com", ", ".join(to), "hi"
    message.set_content("body")
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
        return client.send_message(message)


def test_a_listed_recipient_is_refused_and_the_others_get_the_message():
    with SmtpSink(reject_recipients={"Gone@example.com"}) as sink:
        refused = _send(sink, "ops@example.com", "gone@example.com")
        received = sink.wait_for(1)
    assert set(refused) == {"gone@example.com"}, "only the listed address should be refused"
    assert [r.rcpt_tos for r in received] == [("ops@example.com",)], "the good recipient gets the mail"


def test_refusing_every_recipient_delivers_nothing():
    with SmtpSink(reject_recipients=True) as sink:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            _send(sink, "ops@example.com")
        assert sink.messages == [], "nothing is delivered when every recipient is refused"

"""SMTPBackend against a real aiosmtpd server: the message that arrives and how each SMTP reply maps to an error."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage

import pytest

from digest.errors import MailConfigError, PermanentDeliveryError, TransientDeliveryError
from digest.mail.smtp import SMTPBackend
from tests.mail.conftest import RECIPIENT, UNSUBSCRIBE_URL, make_email
from tests.servers.feed_server import unused_port
from tests.servers.local_smtp import LocalSMTPServer

SMTP_LOGIN = ("digest-user", "correct horse battery staple")


def backend_for(server: LocalSMTPServer, **options) -> SMTPBackend:
    return SMTPBackend(server.host, server.port, **options)


def part_text(part: EmailMessage) -> str:
    """Return a part's decoded text with SMTP's CRLF line ends turned back into LF."""
    return part.get_content().replace("\r\n", "\n")


def test_smtp_message_is_multipart_alternative(smtp_server):
    email_value = make_email()

    backend_for(smtp_server).send(email_value)

    message = smtp_server.messages[0].parse()
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert part_text(parts[0]) == email_value.text
    # set_content ends a part with a newline when its text has none.
    assert part_text(parts[1]).rstrip("\n") == email_value.html


def test_smtp_message_has_standard_headers(smtp_server):
    email_value = make_email()

    sent = backend_for(smtp_server).send(email_value)

    message = smtp_server.messages[0].parse()
    assert message["From"] == email_value.sender
    assert message["To"] == RECIPIENT
    assert message["Subject"] == email_value.subject
    assert message["Message-ID"] == sent.message_id
    assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None


def test_smtp_message_has_unsubscribe_headers(smtp_server):
    backend_for(smtp_server).send(make_email())

    message = smtp_server.messages[0].parse()
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_smtp_envelope_uses_bare_addresses(smtp_server):
    backend_for(smtp_server).send(make_email())

    received = smtp_server.messages[0]
    assert received.mail_from == "digest@example.org"
    assert received.rcpt_tos == [RECIPIENT]


def test_smtp_non_ascii_survives(smtp_server):
    email_value = make_email(
        sender="Jean-François Dupré <digest@example.org>",
        subject="3 nouveaux articles · 量子 計算",
        text="Bonjour Jean-François,\n量子コンピュータ の 論文\n",
        html="<p>Bonjour Jean-François, <b>量子</b></p>",
    )

    backend_for(smtp_server).send(email_value)

    message = smtp_server.messages[0].parse()
    text_part, html_part = message.iter_parts()
    assert message["Subject"] == email_value.subject
    assert message["From"].addresses[0].display_name == "Jean-François Dupré"
    assert part_text(text_part) == email_value.text
    assert part_text(html_part).rstrip("\n") == email_value.html


def test_smtp_data_is_seven_bit(smtp_server):
    # smtplib sends no BODY=8BITMIME, so an 8-bit body breaks RFC 6152 on the way to a relay.
    backend_for(smtp_server).send(make_email(text="Jean-François · 量子\n", html="<p>量子</p>"))

    assert smtp_server.messages[0].data.isascii()


def test_smtp_utf8_address_delivers(smtp_server):
    backend_for(smtp_server).send(make_email(recipient="josé@example.org"))

    received = smtp_server.messages[0]
    assert received.rcpt_tos == ["josé@example.org"]
    assert received.parse()["To"] == "josé@example.org"


def test_smtp_utf8_address_unsupported_is_permanent():
    with LocalSMTPServer(smtputf8=False) as server:
        with pytest.raises(PermanentDeliveryError) as caught:
            backend_for(server).send(make_email(recipient="josé@example.org"))

        assert "SMTPUTF8" in str(caught.value)
        assert server.messages == []


def test_smtp_temporary_rcpt_reply_is_transient(smtp_server):
    smtp_server.handler.rcpt_reply = "451 4.3.0 Mailbox temporarily unavailable"

    with pytest.raises(TransientDeliveryError) as caught:
        backend_for(smtp_server).send(make_email())

    assert "451" in str(caught.value)
    assert smtp_server.messages == []


def test_smtp_permanent_rcpt_reply_is_permanent(smtp_server):
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user"

    with pytest.raises(PermanentDeliveryError) as caught:
        backend_for(smtp_server).send(make_email())

    assert "550" in str(caught.value)
    assert "No such user" in str(caught.value)


def test_smtp_temporary_data_reply_is_transient(smtp_server):
    smtp_server.handler.data_reply = "451 4.7.1 Greylisted, try again later"

    with pytest.raises(TransientDeliveryError) as caught:
        backend_for(smtp_server).send(make_email())

    assert "451" in str(caught.value)
    assert "Greylisted" in str(caught.value)


def test_smtp_permanent_data_reply_is_permanent(smtp_server):
    smtp_server.handler.data_reply = "550 5.7.1 Message rejected as spam"

    with pytest.raises(PermanentDeliveryError) as caught:
        backend_for(smtp_server).send(make_email())

    assert "550" in str(caught.value)
    assert "rejected as spam" in str(caught.value)


def test_smtp_rejected_login_is_config_error():
    with LocalSMTPServer(login=SMTP_LOGIN) as server:
        backend = backend_for(server, username="digest-user", password="wrong password")

        with pytest.raises(MailConfigError) as caught:
            backend.send(make_email())

        assert "DIGEST_SMTP_USERNAME" in str(caught.value)
        assert "535" in str(caught.value)
        assert server.messages == []


def test_smtp_temporary_login_failure_is_transient():
    with LocalSMTPServer(login=SMTP_LOGIN) as server:
        server.login_reply = "454 4.7.0 Temporary authentication failure"
        backend = backend_for(server, username=SMTP_LOGIN[0], password=SMTP_LOGIN[1])

        with pytest.raises(TransientDeliveryError) as caught:
            backend.send(make_email())

        assert "454" in str(caught.value)
        assert server.messages == []


def test_smtp_accepted_login_delivers():
    with LocalSMTPServer(login=SMTP_LOGIN) as server:
        backend = backend_for(server, username=SMTP_LOGIN[0], password=SMTP_LOGIN[1])

        backend.send(make_email())

        assert len(server.messages) == 1


def test_smtp_login_without_auth_is_config_error(smtp_server):
    backend = backend_for(smtp_server, username="digest-user", password="secret")

    with pytest.raises(MailConfigError) as caught:
        backend.send(make_email())

    assert "DIGEST_SMTP_USERNAME" in str(caught.value)
    assert smtp_server.messages == []


def test_smtp_starttls_unsupported_is_config_error(smtp_server):
    backend = backend_for(smtp_server, starttls=True)

    with pytest.raises(MailConfigError) as caught:
        backend.send(make_email())

    assert "DIGEST_SMTP_STARTTLS" in str(caught.value)
    assert smtp_server.messages == []


def test_smtp_closed_port_is_transient():
    port = unused_port()
    backend = SMTPBackend("127.0.0.1", port)

    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(make_email())

    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "DIGEST_SMTP_HOST" in str(caught.value)

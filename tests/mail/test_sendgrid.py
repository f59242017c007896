"""SendGridBackend against the fake v3 Mail Send server: the request it sends and how it maps each failure."""

from __future__ import annotations

import pytest

from digest.errors import MailConfigError, PermanentDeliveryError, TransientDeliveryError
from digest.mail.sendgrid import REQUEST_TIMEOUT_SECONDS, SendGridBackend
from tests.mail.conftest import SENDGRID_API_KEY, UNSUBSCRIBE_URL, make_email
from tests.servers.feed_server import unused_port
from tests.servers.fake_sendgrid import FakeSendGrid


def backend_for(fake: FakeSendGrid, api_key: str = SENDGRID_API_KEY, **options) -> SendGridBackend:
    return SendGridBackend(api_key=api_key, host=fake.url, **options)


def test_sendgrid_request_matches_v3_schema(fake_sendgrid):
    email = make_email()

    backend_for(fake_sendgrid).send(email)

    assert len(fake_sendgrid.accepted) == 1
    body = fake_sendgrid.accepted[0].body
    assert body["from"] == {"email": "digest@example.org", "name": "Paper Digest"}
    assert body["personalizations"] == [{"to": [{"email": "reader@example.org"}]}]
    assert body["subject"] == email.subject
    assert body["content"] == [
        {"type": "text/plain", "value": email.text},
        {"type": "text/html", "value": email.html},
    ]
    assert body["headers"] == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["categories"] == ["digest"]


def test_sendgrid_request_sends_bearer_key(fake_sendgrid):
    backend_for(fake_sendgrid).send(make_email())

    headers = fake_sendgrid.accepted[0].headers
    assert headers["authorization"] == f"Bearer {SENDGRID_API_KEY}"
    assert headers["content-type"] == "application/json"


def test_sendgrid_message_id_from_header(fake_sendgrid):
    sent = backend_for(fake_sendgrid).send(make_email())

    assert sent.message_id == fake_sendgrid.accepted[0].message_id
    assert sent.message_id != ""


def test_sendgrid_non_ascii_round_trips(fake_sendgrid):
    email = make_email(
        sender="Jean-François Dupré <digest@example.org>",
        subject="3 nouveaux articles · 量子 計算",
        text="Bonjour Jean-François,\n量子コンピュータ の 論文\n",
        html="<p>Bonjour Jean-François, <b>量子</b> — “quoted”</p>",
    )

    backend_for(fake_sendgrid).send(email)

    body = fake_sendgrid.accepted[0].body
    assert body["from"]["name"] == "Jean-François Dupré"
    assert body["subject"] == "3 nouveaux articles · 量子 計算"
    assert body["content"][0]["value"] == email.text
    assert body["content"][1]["value"] == email.html


def test_sendgrid_wrong_api_key_is_config_error(fake_sendgrid):
    backend = backend_for(fake_sendgrid, api_key="SG.revoked-key")

    with pytest.raises(MailConfigError) as caught:
        backend.send(make_email())

    assert "DIGEST_SENDGRID_API_KEY" in str(caught.value)
    assert "401" in str(caught.value)
    assert fake_sendgrid.accepted == []


def test_sendgrid_invalid_sender_is_config_error(fake_sendgrid):
    # SendGrid rejects an address without a dotted domain, such as the outbox's default sender.
    backend = backend_for(fake_sendgrid)

    with pytest.raises(MailConfigError) as caught:
        backend.send(make_email(sender="Paper Digest <digest@localhost>"))

    assert "'digest@localhost' is not a valid email address" in str(caught.value)
    assert "from.email" in str(caught.value)
    assert "DIGEST_MAIL_FROM" in str(caught.value)
    assert fake_sendgrid.statuses == [400]


def test_sendgrid_bad_request_carries_message(fake_sendgrid):
    fake_sendgrid.fail_next(400, message="The attachment content is not base64.")

    with pytest.raises(PermanentDeliveryError) as caught:
        backend_for(fake_sendgrid).send(make_email())

    assert "The attachment content is not base64." in str(caught.value)
    assert "HTTP 400" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_sendgrid_auth_status_is_config_error(fake_sendgrid, status):
    fake_sendgrid.fail_next(status)

    with pytest.raises(MailConfigError) as caught:
        backend_for(fake_sendgrid).send(make_email())

    assert f"HTTP {status}" in str(caught.value)
    assert "DIGEST_SENDGRID_API_KEY" in str(caught.value)


@pytest.mark.parametrize("status", [404, 413])
def test_sendgrid_client_error_is_permanent(fake_sendgrid, status):
    fake_sendgrid.fail_next(status)

    with pytest.raises(PermanentDeliveryError) as caught:
        backend_for(fake_sendgrid).send(make_email())

    assert f"HTTP {status}" in str(caught.value)


def test_sendgrid_recipient_field_is_permanent(fake_sendgrid):
    # A rejected recipient concerns this message alone, so it must not stop the night.
    backend = backend_for(fake_sendgrid)

    with pytest.raises(PermanentDeliveryError) as caught:
        backend.send(make_email(recipient="reader@localhost"))

    assert "personalizations" in str(caught.value)
    assert fake_sendgrid.statuses == [400]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_sendgrid_retryable_status_is_transient(fake_sendgrid, status):
    fake_sendgrid.fail_next(status)

    with pytest.raises(TransientDeliveryError) as caught:
        backend_for(fake_sendgrid).send(make_email())

    assert f"HTTP {status}" in str(caught.value)
    assert fake_sendgrid.accepted == []


def test_sendgrid_retry_after_outage_succeeds(fake_sendgrid):
    fake_sendgrid.fail_next(503)
    backend = backend_for(fake_sendgrid)

    with pytest.raises(TransientDeliveryError):
        backend.send(make_email())
    sent = backend.send(make_email())

    assert fake_sendgrid.statuses == [503, 202]
    assert sent.message_id == fake_sendgrid.accepted[0].message_id


def test_sendgrid_closed_port_is_transient():
    host = f"http://127.0.0.1:{unused_port()}"
    backend = SendGridBackend(api_key=SENDGRID_API_KEY, host=host)

    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(make_email())

    assert host in str(caught.value)
    assert "DIGEST_SENDGRID_HOST" in str(caught.value)


def test_sendgrid_stalled_server_times_out(fake_sendgrid):
    fake_sendgrid.stall_next()
    backend = backend_for(fake_sendgrid, timeout=0.2)

    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(make_email())

    assert "timed out" in str(caught.value)
    assert fake_sendgrid.accepted == []


def test_sendgrid_default_timeout_is_set():
    backend = SendGridBackend(api_key=SENDGRID_API_KEY, host=f"http://127.0.0.1:{unused_port()}")

    # The sendgrid client copies this attribute into every request it builds.
    assert backend.client.client.timeout == REQUEST_TIMEOUT_SECONDS

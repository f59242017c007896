"""The fake SendGrid server itself: it must reject what SendGrid rejects, or the backend tests prove nothing."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request

import pytest

from tests.mail.conftest import SENDGRID_API_KEY
from tests.servers.fake_sendgrid import MAIL_SEND_PATH, FakeSendGrid

VALID_BODY = {
    "personalizations": [{"to": [{"email": "reader@example.org", "name": "Reader"}]}],
    "from": {"email": "digest@example.org", "name": "Paper Digest"},
    "subject": "2 new papers",
    "content": [{"type": "text/plain", "value": "Hello"}, {"type": "text/html", "value": "<p>Hello</p>"}],
    "headers": {"List-Unsubscribe": "<http://127.0.0.1:5000/unsubscribe/t>"},
    "categories": ["digest"],
}


def post(fake: FakeSendGrid, body: object, api_key: str | None = SENDGRID_API_KEY) -> tuple[int, dict, bytes]:
    """POST ``body`` as JSON and return the status, the response headers and the response body."""
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        fake.url + MAIL_SEND_PATH, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def changed(**fields: object) -> dict:
    body = copy.deepcopy(VALID_BODY)
    for name, value in fields.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    return body


def test_fake_accepts_valid_body(fake_sendgrid):
    status, headers, body = post(fake_sendgrid, VALID_BODY)

    assert status == 202
    assert body == b""
    assert headers["X-Message-Id"] == fake_sendgrid.accepted[0].message_id
    assert fake_sendgrid.accepted[0].body == VALID_BODY


def test_fake_rejects_missing_key(fake_sendgrid):
    status, _, body = post(fake_sendgrid, VALID_BODY, api_key=None)

    errors = json.loads(body)["errors"]
    assert status == 401
    assert errors[0]["field"] is None
    assert errors[0]["help"] is None
    assert fake_sendgrid.accepted == []


def test_fake_rejects_wrong_key(fake_sendgrid):
    status, _, _ = post(fake_sendgrid, VALID_BODY, api_key="SG.other")

    assert status == 401
    assert fake_sendgrid.accepted == []


@pytest.mark.parametrize(("body", "field"), [
    (changed(personalizations=None), "personalizations"),
    (changed(personalizations=[]), "personalizations"),
    (changed(personalizations=[{"to": []}]), "personalizations.0.to"),
    (changed(personalizations=[{"to": [{"name": "No Address"}]}]), "personalizations.0.to.0.email"),
    (changed(personalizations=[{"to": [{"email": "not-an-address"}]}]), "personalizations.0.to.0.email"),
    (changed(**{"from": None}), "from"),
    (changed(**{"from": {"name": "Paper Digest"}}), "from.email"),
    (changed(subject=None), "subject"),
    (changed(subject=""), "subject"),
    (changed(content=None), "content"),
    (changed(content=[{"type": "text/plain", "value": ""}]), "content.0.value"),
    (changed(content=[{"value": "Hello"}]), "content.0.type"),
    (changed(content=[{"type": "text/html", "value": "<p>Hi</p>"}, {"type": "text/plain", "value": "Hi"}]),
     "content.0.type"),
    (changed(headers={"X-Count": 3}), "headers.X-Count"),
    (changed(headers={"Subject": "Another subject"}), "headers.Subject"),
    (changed(categories=["x" * 256]), "categories.0"),
])
def test_fake_rejects_invalid_body(fake_sendgrid, body, field):
    status, _, response_body = post(fake_sendgrid, body)

    errors = json.loads(response_body)["errors"]
    assert status == 400
    assert errors[0]["field"] == field
    assert errors[0]["message"] != ""
    assert fake_sendgrid.accepted == []


def test_fake_accepts_personalization_subject(fake_sendgrid):
    body = changed(subject=None, personalizations=[{"to": [{"email": "reader@example.org"}], "subject": "Hi"}])

    status, _, _ = post(fake_sendgrid, body)

    assert status == 202


def test_fake_accepts_template_without_content(fake_sendgrid):
    body = changed(subject=None, content=None, template_id="d-0123456789abcdef")

    status, _, _ = post(fake_sendgrid, body)

    assert status == 202


def test_fake_scripted_status_applies_once(fake_sendgrid):
    fake_sendgrid.fail_next(429)

    first, _, first_body = post(fake_sendgrid, VALID_BODY)
    second, _, _ = post(fake_sendgrid, VALID_BODY)

    assert first == 429
    assert json.loads(first_body)["errors"][0]["message"] != ""
    assert second == 202
    assert fake_sendgrid.statuses == [429, 202]

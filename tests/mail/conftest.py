"""Fixtures of the mail tests: a fake SendGrid server, a local SMTP server, and apps that send through them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from digest.mail import OutgoingEmail
from tests.servers.fake_sendgrid import FakeSendGrid
from tests.servers.local_smtp import LocalSMTPServer
from workers import init_celery

SENDGRID_API_KEY = "SG.test-key-for-the-fake-server"
SENDER = "Paper Digest <digest@example.org>"
RECIPIENT = "reader@example.org"
UNSUBSCRIBE_URL = "http://127.0.0.1:5000/unsubscribe/test-token"


def make_email(**changes: object) -> OutgoingEmail:
    """Return a small digest email; keyword arguments replace its fields."""
    fields: dict[str, object] = {
        "sender": SENDER,
        "recipient": RECIPIENT,
        "subject": "2 new papers on diffusion · 10 Apr 2025",
        "text": "1. Diffusion Models for Text\n  https://arxiv.org/abs/2504.00001\n",
        "html": '<p><a href="https://arxiv.org/abs/2504.00001">Diffusion Models for Text</a></p>',
        "headers": {
            "List-Unsubscribe": f"<{UNSUBSCRIBE_URL}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "kind": "digest",
    }
    fields.update(changes)
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    """A fake SendGrid server that accepts SENDGRID_API_KEY."""
    with FakeSendGrid(SENDGRID_API_KEY) as server:
        yield server


@pytest.fixture
def smtp_server() -> Iterator[LocalSMTPServer]:
    """An SMTP server on 127.0.0.1 that accepts and records every message."""
    with LocalSMTPServer() as server:
        yield server


@pytest.fixture
def sendgrid_app(request: pytest.FixtureRequest, settings_env: dict[str, str], fake_sendgrid: FakeSendGrid) -> Flask:
    """The test app, on SQLite and on PostgreSQL, sending through the fake SendGrid server with eager tasks."""
    settings_env.update({
        "DIGEST_MAIL_BACKEND": "sendgrid",
        "DIGEST_SENDGRID_API_KEY": SENDGRID_API_KEY,
        "DIGEST_SENDGRID_HOST": fake_sendgrid.url,
    })
    app = request.getfixturevalue("app")
    init_celery(app)
    return app


@pytest.fixture
def smtp_app(request: pytest.FixtureRequest, settings_env: dict[str, str], smtp_server: LocalSMTPServer) -> Flask:
    """The test app, on SQLite and on PostgreSQL, sending through the local SMTP server with eager tasks."""
    settings_env.update({
        "DIGEST_MAIL_BACKEND": "smtp",
        "DIGEST_SMTP_HOST": smtp_server.host,
        "DIGEST_SMTP_PORT": str(smtp_server.port),
    })
    app = request.getfixturevalue("app")
    init_celery(app)
    return app

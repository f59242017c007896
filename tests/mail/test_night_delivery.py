"""A whole night run through the SendGrid and SMTP backends, with the mail servers failing and recovering.

Each test fetches the sample feed of 2025-04-10, adds subscribers, and runs
the plan task; with no broker configured, the send tasks run eagerly.
"""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

import pytest
from flask import Flask
from sqlalchemy import select

from digest import services
from digest.models import Delivery, DeliveryStatus, Paper, Subscriber
from digest.sources.store import fetch_and_store
from digest.subscriptions import add_subscriber
from digest.topics import TopicKind, parse_topic
from tests.conftest import MAIN_FEED
from tests.mail.conftest import SENDGRID_API_KEY
from tests.servers.fake_sendgrid import FakeSendGrid
from tests.servers.local_smtp import LocalSMTPServer
from workers import init_celery
from workers.tasks import plan_digests_task

DAY = "2025-04-10"
ADA = "ada@example.org"
GRACE = "grace@example.org"
ARXIV_ABS_PREFIX = "https://arxiv.org/abs/"


class _LinkCollector(HTMLParser):
    """Collect ``(href, text)`` for every link of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def title_links(html: str) -> list[tuple[str, str]]:
    """Return the ``(abs URL, title)`` links of a digest, leaving out the ``arXiv:<id>`` links."""
    collector = _LinkCollector()
    collector.feed(html)
    return [
        (href, text) for href, text in collector.links
        if href.startswith(ARXIV_ABS_PREFIX) and not text.startswith("arXiv:")
    ]


def fetch_night(app: Flask) -> None:
    fetch_and_store(services(app).db, str(MAIN_FEED / f"{DAY}.xml"))


def add_subscribers(app: Flask) -> dict[str, int]:
    """Add Ada (diffusion) and Grace (large language models) and return their ids by address."""
    topics = {ADA: "diffusion", GRACE: "large language models"}
    ids = {}
    with services(app).db.session() as session:
        for address, keyword in topics.items():
            ids[address] = add_subscriber(session, address, [parse_topic(TopicKind.KEYWORD, keyword)]).id
    return ids


def run_night(app: Flask, retry_failed: bool = False) -> int:
    with app.app_context():
        return plan_digests_task(DAY, retry_failed)


def deliveries_by_address(app: Flask) -> dict[str, Delivery]:
    with services(app).db.session() as session:
        rows = session.execute(select(Subscriber.email, Delivery).join(Delivery.subscriber)).all()
        return {address: delivery for address, delivery in rows}


def paper_titles_by_url(app: Flask) -> dict[str, str]:
    with services(app).db.session() as session:
        return {url: title for url, title in session.execute(select(Paper.abs_url, Paper.title))}


# SendGrid


def test_sendgrid_night_sends_each_digest(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)

    run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert sorted(fake_sendgrid.recipients()) == [ADA, GRACE]
    assert {row.status for row in rows.values()} == {DeliveryStatus.SENT}
    accepted_ids = {request.message_id for request in fake_sendgrid.accepted}
    assert {row.message_id for row in rows.values()} == accepted_ids


def test_sendgrid_digest_request_is_complete(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    ids = add_subscribers(sendgrid_app)

    run_night(sendgrid_app)

    [request] = [request for request in fake_sendgrid.accepted
                 if request.body["personalizations"][0]["to"] == [{"email": ADA}]]
    body = request.body
    paper_count = deliveries_by_address(sendgrid_app)[ADA].paper_count
    text, html = body["content"][0]["value"], body["content"][1]["value"]
    links = title_links(html)
    titles_by_url = paper_titles_by_url(sendgrid_app)

    assert paper_count > 0
    assert body["from"] == {"email": "digest@example.org", "name": "Paper Digest"}
    assert body["subject"].startswith(f"{paper_count} new papers on diffusion")
    assert [item["type"] for item in body["content"]] == ["text/plain", "text/html"]
    assert len(links) == paper_count
    for url, title in links:
        assert titles_by_url[url] == title
        assert title in text
        assert url in text
    unsubscribe = re.fullmatch(r"<(http://127\.0\.0\.1:5000/unsubscribe/([^>]+))>", body["headers"]["List-Unsubscribe"])
    assert unsubscribe is not None
    assert services(sendgrid_app).links.subscriber_id("unsubscribe", unsubscribe.group(2)) == ids[ADA]
    assert unsubscribe.group(1) in text
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["categories"] == ["digest"]


def test_sendgrid_outage_leaves_rows_pending(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.fail_next(500, count=2)

    queued = run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert queued == 2
    assert fake_sendgrid.statuses == [500, 500]
    assert fake_sendgrid.accepted == []
    for row in rows.values():
        assert row.status is DeliveryStatus.PENDING
        assert "HTTP 500" in row.error
        assert row.attempts == 1
        assert row.message_id is None


def test_sendgrid_rerun_after_outage_sends_once(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.fail_next(503, count=2)
    run_night(sendgrid_app)

    queued_again = run_night(sendgrid_app)
    queued_third = run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert queued_again == 2
    assert queued_third == 0
    assert sorted(fake_sendgrid.recipients()) == [ADA, GRACE]
    for row in rows.values():
        assert row.status is DeliveryStatus.SENT
        assert row.error is None
        assert row.attempts == 2


def test_sendgrid_rejection_fails_one_digest(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    # The first request of the night is rejected, whichever subscriber it is for.
    fake_sendgrid.fail_next(400, message="The to address is on a suppression list.")

    run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    failed = [address for address, row in rows.items() if row.status is DeliveryStatus.FAILED]
    sent = [address for address, row in rows.items() if row.status is DeliveryStatus.SENT]
    assert len(failed) == 1
    assert len(sent) == 1
    assert fake_sendgrid.recipients() == sent
    assert "The to address is on a suppression list." in rows[failed[0]].error


def test_sendgrid_failed_digest_is_not_resent(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.fail_next(400)
    run_night(sendgrid_app)
    statuses_after_first_night = list(fake_sendgrid.statuses)

    queued_again = run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert queued_again == 0
    assert fake_sendgrid.statuses == statuses_after_first_night
    assert sorted(row.status.value for row in rows.values()) == ["failed", "sent"]


def test_sendgrid_wrong_key_stops_night(sendgrid_app, fake_sendgrid, caplog):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.api_key = "SG.a-key-the-app-does-not-have"

    with caplog.at_level(logging.INFO):
        run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app).values()
    tried = [row for row in rows if row.attempts == 1]
    stop_lines = [record for record in caplog.records if record.getMessage().startswith("Stopped sending")]
    assert fake_sendgrid.statuses == [401]
    assert {row.status for row in rows} == {DeliveryStatus.PENDING}
    assert len(tried) == 1
    assert "DIGEST_SENDGRID_API_KEY" in tried[0].error
    assert len(stop_lines) == 1
    assert "1 of 2 digests were not tried" in stop_lines[0].getMessage()


def test_sendgrid_fixed_key_sends_pending(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.api_key = "SG.a-key-the-app-does-not-have"
    run_night(sendgrid_app)

    # The operator sets DIGEST_SENDGRID_API_KEY to the key SendGrid accepts.
    fake_sendgrid.api_key = SENDGRID_API_KEY
    queued_again = run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert queued_again == 2
    assert sorted(fake_sendgrid.recipients()) == [ADA, GRACE]
    assert {row.status for row in rows.values()} == {DeliveryStatus.SENT}
    assert {row.error for row in rows.values()} == {None}


def test_sendgrid_forbidden_leaves_rows_pending(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.fail_next(403, count=2)

    run_night(sendgrid_app)

    rows = deliveries_by_address(sendgrid_app)
    assert fake_sendgrid.statuses == [403]
    assert {row.status for row in rows.values()} == {DeliveryStatus.PENDING}


def test_retry_failed_resends_rejected(sendgrid_app, fake_sendgrid):
    fetch_night(sendgrid_app)
    add_subscribers(sendgrid_app)
    fake_sendgrid.fail_next(400, message="The to address is on a suppression list.")
    run_night(sendgrid_app)

    queued_again = run_night(sendgrid_app, retry_failed=True)
    queued_third = run_night(sendgrid_app, retry_failed=True)

    rows = deliveries_by_address(sendgrid_app)
    assert queued_again == 1
    assert queued_third == 0
    assert sorted(fake_sendgrid.recipients()) == [ADA, GRACE]
    assert {row.status for row in rows.values()} == {DeliveryStatus.SENT}


# SMTP


def test_smtp_night_delivers_each_digest(smtp_app, smtp_server):
    fetch_night(smtp_app)
    add_subscribers(smtp_app)

    run_night(smtp_app)

    rows = deliveries_by_address(smtp_app)
    messages = {received.rcpt_tos[0]: received.parse() for received in smtp_server.messages}
    assert sorted(messages) == [ADA, GRACE]
    for address, message in messages.items():
        assert message["To"] == address
        assert message["Message-ID"] == rows[address].message_id
        assert message["Subject"].startswith(f"{rows[address].paper_count} new paper")
        assert message["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:5000/unsubscribe/")
        assert rows[address].status is DeliveryStatus.SENT


def test_smtp_digest_links_arxiv_papers(smtp_app, smtp_server):
    fetch_night(smtp_app)
    add_subscribers(smtp_app)

    run_night(smtp_app)

    [received] = [received for received in smtp_server.messages if received.rcpt_tos == [GRACE]]
    message = received.parse()
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    links = title_links(html)
    titles_by_url = paper_titles_by_url(smtp_app)
    paper_count = deliveries_by_address(smtp_app)[GRACE].paper_count
    assert paper_count > 0
    assert len(links) == paper_count
    for url, title in links:
        assert titles_by_url[url] == title
        assert url in text


def test_smtp_greylisting_leaves_rows_pending(smtp_app, smtp_server):
    fetch_night(smtp_app)
    add_subscribers(smtp_app)
    smtp_server.handler.rcpt_reply = "451 4.7.1 Greylisted, try again later"
    run_night(smtp_app)
    pending = {row.status for row in deliveries_by_address(smtp_app).values()}

    smtp_server.handler.rcpt_reply = None
    run_night(smtp_app)

    rows = deliveries_by_address(smtp_app)
    assert pending == {DeliveryStatus.PENDING}
    assert sorted(received.rcpt_tos[0] for received in smtp_server.messages) == [ADA, GRACE]
    assert {row.status for row in rows.values()} == {DeliveryStatus.SENT}


@pytest.fixture
def wrong_login_app(request: pytest.FixtureRequest, settings_env: dict[str, str]):
    """The test app, sending through an SMTP server that rejects its password, and that server."""
    with LocalSMTPServer(login=("digest-user", "right password")) as server:
        settings_env.update({
            "DIGEST_MAIL_BACKEND": "smtp",
            "DIGEST_SMTP_HOST": server.host,
            "DIGEST_SMTP_PORT": str(server.port),
            "DIGEST_SMTP_USERNAME": "digest-user",
            "DIGEST_SMTP_PASSWORD": "wrong password",
        })
        app = request.getfixturevalue("app")
        init_celery(app)
        yield app, server


def test_smtp_rejected_login_leaves_pending(wrong_login_app):
    app, server = wrong_login_app
    fetch_night(app)
    add_subscribers(app)

    run_night(app)

    rows = deliveries_by_address(app).values()
    errors = [row.error for row in rows if row.error]
    assert {row.status for row in rows} == {DeliveryStatus.PENDING}
    assert len(errors) == 1
    assert "535" in errors[0]
    assert "DIGEST_SMTP_PASSWORD" in errors[0]
    assert server.messages == []

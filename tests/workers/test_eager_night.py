"""The nightly job without a broker: every task runs inline, on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import func, select

from digest import services
from digest.digests import deliver_digest, plan_digests
from digest.models import Delivery, DeliveryStatus, Paper
from tests.conftest import MAIN_FEED
from tests.servers.feed_server import FeedServer, closed_port_url, unused_port
from tests.workers.conftest import (
    AUDIO_FEED_PATH,
    DIGEST_DATE,
    MAIN_FEED_PATH,
    SUBSCRIBERS,
    add_sample_subscribers,
    delivery_statuses,
    outbox_recipients,
    store_sample_night,
)
from workers.tasks import SEND_MAX_RETRIES, fetch_feeds, plan_digests_task, run_nightly, send_digest

#: Ways a feed URL can fail, each returning a URL that fails that way.
BROKEN_FEEDS = {
    "http-404": lambda server: server.url("rss/missing"),
    "http-500": lambda server: server.fail("rss/error", 500),
    "closed-port": lambda server: closed_port_url("rss/closed"),
    "cut-off-body": lambda server: server.truncate("rss/cut", MAIN_FEED / f"{DIGEST_DATE}.xml"),
}


def attempts(app) -> list[int]:
    with services(app).db.session() as session:
        return sorted(session.scalars(select(Delivery.attempts).where(Delivery.digest_date == DIGEST_DATE)))


def test_eager_night_fetches_and_sends(settings_env, sample_feeds, feed_server, make_app):
    app = make_app({**settings_env, "DIGEST_FEEDS": " ".join(sample_feeds)})
    ids = add_sample_subscribers(app)

    queued = run_nightly()

    with services(app).db.session() as session:
        stored = session.scalar(select(func.count(Paper.id)))
    assert feed_server.requests_for(MAIN_FEED_PATH) == 1
    assert feed_server.requests_for(AUDIO_FEED_PATH) == 1
    assert stored > 0
    assert queued == len(ids)
    assert delivery_statuses(app) == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert outbox_recipients(app) == sorted(SUBSCRIBERS)


def test_eager_night_twice_sends_once(settings_env, sample_feeds, make_app):
    app = make_app({**settings_env, "DIGEST_FEEDS": " ".join(sample_feeds)})
    add_sample_subscribers(app)

    run_nightly()
    queued_again = run_nightly()

    assert queued_again == 0
    assert outbox_recipients(app) == sorted(SUBSCRIBERS)


@pytest.mark.parametrize("failure", BROKEN_FEEDS)
def test_eager_night_skips_broken_feed(failure, settings_env, sample_feeds, feed_server: FeedServer, make_app, caplog):
    broken_url = BROKEN_FEEDS[failure](feed_server)
    # The broken feed comes first, so the sample feeds are fetched after it failed.
    app = make_app({**settings_env, "DIGEST_FEEDS": " ".join([broken_url, *sample_feeds])})
    ids = add_sample_subscribers(app)

    with caplog.at_level(logging.INFO):
        run_nightly()

    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert broken_url in errors[0]
    assert feed_server.requests_for(MAIN_FEED_PATH) == 1
    assert feed_server.requests_for(AUDIO_FEED_PATH) == 1
    assert delivery_statuses(app) == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}


def test_eager_night_without_reachable_feeds(settings_env, make_app, caplog):
    urls = [closed_port_url("rss/one"), closed_port_url("rss/two")]
    app = make_app({**settings_env, "DIGEST_FEEDS": " ".join(urls)})
    add_sample_subscribers(app)

    with caplog.at_level(logging.INFO):
        queued = run_nightly()

    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert queued == 0
    assert len(errors) == 2
    assert urls[0] in errors[0]
    assert urls[1] in errors[1]
    assert "No papers are stored yet" in caplog.text


def test_eager_transient_failure_stays_pending(settings_env, sample_feeds, make_app, caplog):
    feeds = " ".join(sample_feeds)
    unreachable_smtp = {
        **settings_env, "DIGEST_FEEDS": feeds, "DIGEST_MAIL_BACKEND": "smtp",
        "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(unused_port()),
    }
    failing_app = make_app(unreachable_smtp)
    ids = add_sample_subscribers(failing_app)

    with caplog.at_level(logging.INFO):
        run_nightly()

    assert delivery_statuses(failing_app) == {subscriber_id: DeliveryStatus.PENDING for subscriber_id in ids.values()}
    assert caplog.text.count("left pending: run the night again") == len(ids)

    # The operator fixes the mail settings and runs the night again.
    fixed_app = make_app({**settings_env, "DIGEST_FEEDS": feeds})
    run_nightly()

    assert delivery_statuses(fixed_app) == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert outbox_recipients(fixed_app) == sorted(SUBSCRIBERS)
    assert attempts(fixed_app) == [2] * len(ids)


def test_eager_send_twice_sends_once(settings_env, make_app):
    app = make_app(settings_env)
    add_sample_subscribers(app)
    store_sample_night(app)
    with services(app).db.session() as session:
        delivery_id = plan_digests(session, DIGEST_DATE)[0]

    first = send_digest.delay(delivery_id).get()
    second = send_digest.delay(delivery_id).get()

    assert first == DeliveryStatus.SENT.value
    assert second == DeliveryStatus.SENT.value
    assert len(outbox_recipients(app)) == 1
    assert attempts(app)[-1] == 1


def test_concurrent_sends_claim_once(settings_env, make_app):
    app = make_app(settings_env)
    add_sample_subscribers(app)
    store_sample_night(app)
    with services(app).db.session() as session:
        delivery_id = plan_digests(session, DIGEST_DATE)[0]

    thread_count = 4
    start = threading.Barrier(thread_count)
    outcomes: list[DeliveryStatus] = []
    errors: list[BaseException] = []

    def send() -> None:
        start.wait(timeout=30)
        try:
            outcomes.append(deliver_digest(services(app), delivery_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(outcomes) == thread_count
    assert len(outbox_recipients(app)) == 1
    assert attempts(app)[-1] == 1


def test_eager_config_error_stops_night(settings_env, make_app, tmp_path, caplog):
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a folder", encoding="utf-8")
    broken_app = make_app({**settings_env, "DIGEST_OUTBOX_DIR": str(blocker / "outbox")})
    ids = add_sample_subscribers(broken_app)
    store_sample_night(broken_app)

    with caplog.at_level(logging.INFO):
        queued = plan_digests_task(DIGEST_DATE.isoformat())

    stop_lines = [record for record in caplog.records if record.getMessage().startswith("Stopped sending")]
    assert queued == len(ids)
    assert delivery_statuses(broken_app) == {subscriber_id: DeliveryStatus.PENDING for subscriber_id in ids.values()}
    assert attempts(broken_app) == [0, 0, 1]
    assert len(stop_lines) == 1
    assert stop_lines[0].levelno == logging.ERROR
    assert "DIGEST_OUTBOX_DIR" in stop_lines[0].getMessage()

    # The operator points DIGEST_OUTBOX_DIR at a writable folder and runs the night again.
    fixed_app = make_app(settings_env)
    plan_digests_task(DIGEST_DATE.isoformat())

    assert delivery_statuses(fixed_app) == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert outbox_recipients(fixed_app) == sorted(SUBSCRIBERS)


def test_config_error_after_retries_stays_pending(settings_env, make_app, tmp_path):
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a folder", encoding="utf-8")
    app = make_app({**settings_env, "DIGEST_OUTBOX_DIR": str(blocker / "outbox")})
    add_sample_subscribers(app)
    store_sample_night(app)
    with services(app).db.session() as session:
        delivery_id = plan_digests(session, DIGEST_DATE)[0]

    # The request of a worker's last retry: not eager, with every retry used.
    send_digest.push_request(is_eager=False, retries=SEND_MAX_RETRIES)
    try:
        with app.app_context():
            status = send_digest.run(delivery_id)
    finally:
        send_digest.pop_request()

    with services(app).db.session() as session:
        delivery = session.get(Delivery, delivery_id)
    assert status == DeliveryStatus.PENDING.value
    assert delivery.status is DeliveryStatus.PENDING
    assert "DIGEST_OUTBOX_DIR" in delivery.error


def test_fetch_feeds_reports_failed_feeds(settings_env, sample_feeds, feed_server: FeedServer, make_app):
    broken_url = feed_server.url("rss/missing")
    make_app({**settings_env, "DIGEST_FEEDS": " ".join([broken_url, *sample_feeds])})

    report = fetch_feeds()

    assert list(report["failed"]) == [broken_url]
    assert "HTTP 404" in report["failed"][broken_url]
    assert sorted(report["added"]) == sorted(sample_feeds)
    assert all(count > 0 for count in report["added"].values())

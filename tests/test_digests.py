from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from digest import services
from digest.digests import latest_announcement_date, plan_digests
from digest.models import Delivery, DeliveryStatus, Subscriber
from digest.sources.store import fetch_and_store
from digest.subscriptions import add_subscriber, unsubscribe
from digest.topics import TopicKind, parse_topic
from tests.conftest import FIXTURES, MAIN_FEED, read_outbox
from workers import init_celery
from workers.tasks import plan_digests_task

DAY = "2025-04-10"


def add(app, email: str, **topics: list[str]) -> int:
    specs = [parse_topic(TopicKind(kind), value) for kind, values in topics.items() for value in values]
    with services(app).db.session() as session:
        return add_subscriber(session, email, specs).id


def run_night(app, day: str = DAY) -> int:
    init_celery(app)
    with app.app_context():
        return plan_digests_task(day)


def deliveries(app) -> dict[int, Delivery]:
    with services(app).db.session() as session:
        return {d.subscriber_id: d for d in session.scalars(select(Delivery))}


@pytest.fixture
def day_app(app):
    fetch_and_store(services(app).db, str(MAIN_FEED / f"{DAY}.xml"))
    return app


def test_night_twice_sends_one_digest(day_app):
    add(day_app, "ada@example.org", keyword=["diffusion"])
    add(day_app, "grace@example.org", keyword=["large language models"])

    run_night(day_app)
    run_night(day_app)

    assert len(read_outbox(day_app, "digest")) == 2
    assert {d.status for d in deliveries(day_app).values()} == {DeliveryStatus.SENT}


def test_digest_lists_matching_papers(day_app):
    add(day_app, "ada@example.org", keyword=["diffusion"])

    run_night(day_app)

    [message] = read_outbox(day_app, "digest")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    titles = re.findall(r'font-weight:600;[^>]*>([^<]+)</a>', html)
    assert titles
    assert all(re.search(r"diffusion", title, re.IGNORECASE) for title in titles[:3])
    assert "Matched:" in text
    assert message["Subject"].startswith(f"{len(titles)} new papers on diffusion")


def test_digest_carries_unsubscribe_headers(day_app):
    subscriber_id = add(day_app, "ada@example.org", keyword=["diffusion"])

    run_night(day_app)

    [message] = read_outbox(day_app, "digest")
    # A long header value may be folded onto its own line, so compare it without the folding space.
    header = message["List-Unsubscribe"].strip()
    assert header.startswith("<http://127.0.0.1:5000/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert services(day_app).links.subscriber_id("unsubscribe", header.strip("<>").rsplit("/", 1)[1]) == subscriber_id


def test_digest_has_manage_link(day_app):
    add(day_app, "ada@example.org", keyword=["diffusion"])

    run_night(day_app)

    [message] = read_outbox(day_app, "digest")
    assert "http://127.0.0.1:5000/manage/" in message.get_body(("html",)).get_content()
    assert "http://127.0.0.1:5000/manage/" in message.get_body(("plain",)).get_content()


def test_no_match_sends_nothing(day_app):
    subscriber_id = add(day_app, "ada@example.org", keyword=["zymurgy"])

    run_night(day_app)

    assert read_outbox(day_app, "digest") == []
    assert deliveries(day_app)[subscriber_id].status is DeliveryStatus.EMPTY


def test_unsubscribed_gets_nothing(day_app):
    subscriber_id = add(day_app, "ada@example.org", keyword=["diffusion"])
    with services(day_app).db.session() as session:
        unsubscribe(session, subscriber_id)

    run_night(day_app)

    assert read_outbox(day_app, "digest") == []


def test_unsubscribed_after_planning_is_skipped(day_app):
    subscriber_id = add(day_app, "ada@example.org", keyword=["diffusion"])
    with services(day_app).db.session() as session:
        plan_digests(session, dt.date.fromisoformat(DAY))
    with services(day_app).db.session() as session:
        unsubscribe(session, subscriber_id)

    run_night(day_app)

    assert deliveries(day_app)[subscriber_id].status is DeliveryStatus.SKIPPED


def test_replacements_are_not_sent(app):
    fetch_and_store(services(app).db, str(FIXTURES / "arxiv-rss" / "categories.xml"))
    subscriber_id = add(app, "ada@example.org", keyword=["gradient descent"])

    run_night(app, "2025-04-15")

    assert read_outbox(app, "digest") == []
    assert deliveries(app)[subscriber_id].status is DeliveryStatus.EMPTY


def test_category_subscriber_gets_category(app):
    fetch_and_store(services(app).db, str(FIXTURES / "arxiv-rss" / "categories.xml"))
    add(app, "emmy@example.org", category=["math.AG"])

    run_night(app, "2025-04-15")

    [message] = read_outbox(app, "digest")
    assert "Moduli of Curves with Marked Points" in message.get_body(("html",)).get_content()


def test_author_subscriber_gets_author(day_app):
    add(day_app, "grace@example.org", author=["Hung-yi Lee"])

    run_night(day_app)

    [message] = read_outbox(day_app, "digest")
    assert "Hung-yi Lee" in message.get_body(("plain",)).get_content()


def test_max_papers_caps_digest(day_app):
    with services(day_app).db.session() as session:
        add_subscriber(session, "ada@example.org", [parse_topic("keyword", "model")], max_papers=5)

    run_night(day_app)

    assert deliveries(day_app)[1].paper_count == 5


def test_latest_date_ignores_replacements(app):
    fetch_and_store(services(app).db, str(MAIN_FEED / "2025-04-09.xml"))

    with services(app).db.session() as session:
        assert latest_announcement_date(session) == dt.date(2025, 4, 9)


def test_new_subscriber_joins_planned_night(day_app):
    add(day_app, "ada@example.org", keyword=["diffusion"])
    run_night(day_app)
    add(day_app, "grace@example.org", keyword=["reasoning"])

    run_night(day_app)

    with services(day_app).db.session() as session:
        emails = set(session.scalars(select(Subscriber.email)))
    assert len(read_outbox(day_app, "digest")) == len(emails) == 2


def test_empty_rechecked_after_late_feed(app):
    fetch_and_store(services(app).db, str(MAIN_FEED / "2025-04-10.xml"))
    subscriber_id = add(app, "ada@example.org", keyword=["diffusion"])
    run_night(app, "2025-04-11")
    status_before_feed = deliveries(app)[subscriber_id].status

    fetch_and_store(services(app).db, str(MAIN_FEED / "2025-04-11.xml"))
    run_night(app, "2025-04-11")

    assert status_before_feed is DeliveryStatus.EMPTY
    assert deliveries(app)[subscriber_id].status is DeliveryStatus.SENT
    assert len(read_outbox(app, "digest")) == 1


def test_empty_recheck_sends_nothing_twice(day_app):
    sent_id = add(day_app, "ada@example.org", keyword=["diffusion"])
    empty_id = add(day_app, "grace@example.org", keyword=["zymurgy"])

    queued = [run_night(day_app) for _ in range(3)]

    rows = deliveries(day_app)
    assert queued == [2, 1, 1]
    assert len(read_outbox(day_app, "digest")) == 1
    assert rows[sent_id].status is DeliveryStatus.SENT
    assert rows[empty_id].status is DeliveryStatus.EMPTY


def test_retry_failed_requeues_failed(day_app):
    subscriber_id = add(day_app, "ada@example.org", keyword=["diffusion"])
    with services(day_app).db.session() as session:
        [delivery_id] = plan_digests(session, dt.date.fromisoformat(DAY))
        session.get(Delivery, delivery_id).status = DeliveryStatus.FAILED

    with services(day_app).db.session() as session:
        without_flag = plan_digests(session, dt.date.fromisoformat(DAY))
    with services(day_app).db.session() as session:
        with_flag = plan_digests(session, dt.date.fromisoformat(DAY), retry_failed=True)

    assert without_flag == []
    assert with_flag == [delivery_id]
    assert deliveries(day_app)[subscriber_id].status is DeliveryStatus.PENDING

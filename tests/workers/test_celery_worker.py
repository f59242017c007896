"""The nightly job through Redis and a real ``celery worker`` process, on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest import services
from digest.cli import main
from digest.digests import deliver_digest, plan_digests
from digest.models import Delivery, DeliveryStatus
from tests.workers.conftest import (
    AUDIO_FEED_PATH,
    DIGEST_DATE,
    MAIN_FEED_PATH,
    SUBSCRIBERS,
    add_sample_subscribers,
    outbox_recipients,
    store_sample_night,
    wait_for_deliveries,
)
from tests.servers.fake_sendgrid import FakeSendGrid
from workers.tasks import plan_digests_task, run_nightly, send_digest

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def succeeded(task, result) -> str:
    """Return the start of the line a worker logs when the task behind ``result`` has succeeded."""
    return f"Task {task.name}[{result.id}] succeeded"


def attempts_by_subscriber(app) -> dict[int, int]:
    with services(app).db.session() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.attempts).where(Delivery.digest_date == DIGEST_DATE)
        ).all()
    return dict(rows)


@pytest.mark.parametrize("celery_worker", ["prefork", "threads"], indirect=True)
def test_worker_runs_night_once(broker_app, celery_worker, feed_server):
    ids = add_sample_subscribers(broker_app)

    first = run_nightly.delay()
    statuses = wait_for_deliveries(broker_app, len(ids))
    celery_worker.wait_for_log(succeeded(run_nightly, first))

    assert statuses == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert outbox_recipients(broker_app) == sorted(SUBSCRIBERS)
    assert feed_server.requests_for(MAIN_FEED_PATH) == 1
    assert feed_server.requests_for(AUDIO_FEED_PATH) == 1

    second = run_nightly.delay()
    celery_worker.wait_for_log(succeeded(run_nightly, second))

    assert feed_server.requests_for(MAIN_FEED_PATH) == 2
    assert outbox_recipients(broker_app) == sorted(SUBSCRIBERS)
    assert set(attempts_by_subscriber(broker_app).values()) == {1}
    assert "Queued 0 digests for 2025-04-11" in celery_worker.log()


def test_redelivered_send_sends_once(broker_app, celery_worker):
    add_sample_subscribers(broker_app)
    store_sample_night(broker_app)
    with services(broker_app).db.session() as session:
        delivery_id = plan_digests(session, DIGEST_DATE)[0]

    # The same message twice, as the broker redelivers a task whose ack was lost.
    results = [send_digest.delay(delivery_id), send_digest.delay(delivery_id)]
    for result in results:
        celery_worker.wait_for_log(succeeded(send_digest, result))

    with services(broker_app).db.session() as session:
        delivery = session.get(Delivery, delivery_id)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempts == 1
    assert len(outbox_recipients(broker_app)) == 1
    assert f"Delivery {delivery_id} skipped: it is " in celery_worker.log()


def test_night_planned_twice_sends_once(broker_app, celery_worker):
    ids = add_sample_subscribers(broker_app)
    store_sample_night(broker_app)

    results = [plan_digests_task.delay(DIGEST_DATE.isoformat()), plan_digests_task.delay(DIGEST_DATE.isoformat())]
    for result in results:
        celery_worker.wait_for_log(succeeded(plan_digests_task, result))
    statuses = wait_for_deliveries(broker_app, len(ids))

    assert statuses == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert outbox_recipients(broker_app) == sorted(SUBSCRIBERS)
    assert set(attempts_by_subscriber(broker_app).values()) == {1}


def test_cli_night_runs_on_worker(broker_app, broker_settings, celery_worker, feed_server):
    ids = add_sample_subscribers(broker_app)

    result = CliRunner(env=broker_settings).invoke(main, ["run-night"], catch_exceptions=False)
    statuses = wait_for_deliveries(broker_app, len(ids))

    assert result.exit_code == 0
    assert "Queued the night" in result.output
    assert feed_server.requests_for(MAIN_FEED_PATH) == 1
    assert statuses == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}


def test_deleted_delivery_is_skipped(broker_app):
    store_sample_night(broker_app)
    add_sample_subscribers(broker_app)
    with services(broker_app).db.session() as session:
        [delivery_id, *_] = plan_digests(session, DIGEST_DATE)
    with services(broker_app).db.session() as session:
        session.delete(session.get(Delivery, delivery_id))

    with broker_app.app_context():
        assert deliver_digest(services(broker_app), delivery_id) is DeliveryStatus.SKIPPED


def test_worker_retries_config_error(make_app, broker_settings, start_celery):
    with FakeSendGrid("SG.the-key-sendgrid-accepts") as fake_sendgrid:
        settings = {
            **broker_settings,
            "DIGEST_MAIL_BACKEND": "sendgrid",
            "DIGEST_SENDGRID_API_KEY": "SG.a-revoked-key",
            "DIGEST_SENDGRID_HOST": fake_sendgrid.url,
        }
        app = make_app(settings)
        worker = start_celery(
            "worker", settings, "--concurrency=1", f"--hostname=digest-test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle", "--without-gossip",
        )
        worker.wait_for_log(" ready.")
        add_sample_subscribers(app)
        store_sample_night(app)
        with services(app).db.session() as session:
            delivery_id = plan_digests(session, DIGEST_DATE)[0]

        result = send_digest.delay(delivery_id)
        worker.wait_for_log(f"Task {send_digest.name}[{result.id}] retry: Retry in 60s")

        with services(app).db.session() as session:
            delivery = session.get(Delivery, delivery_id)
        assert fake_sendgrid.statuses == [401]
        assert delivery.status is DeliveryStatus.PENDING
        assert "DIGEST_SENDGRID_API_KEY" in delivery.error

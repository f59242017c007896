"""The beat schedule of the nightly job, and a real ``celery beat`` that starts it on time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from celery import Celery

from digest import create_app
from digest.errors import ConfigError
from digest.models import DeliveryStatus
from tests.workers.conftest import add_sample_subscribers, wait_for_deliveries
from workers import init_celery

#: Seconds a beat process gets to start before the minute it must run the job.
BEAT_START_MARGIN_SECONDS = 15


def make_celery(tmp_path: Path, **settings: str) -> Celery:
    """Set up Celery for an app on SQLite with these extra DIGEST_* settings, without opening the database."""
    env = {
        "DIGEST_DATA_DIR": str(tmp_path / "data"),
        "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest.sqlite3'}",
        **{f"DIGEST_{name}": value for name, value in settings.items()},
    }
    return init_celery(create_app(env))


def next_nightly_at(now: dt.datetime) -> tuple[str, float]:
    """Return the next whole UTC minute at least BEAT_START_MARGIN_SECONDS away, as HH:MM, and the seconds until it."""
    start = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    if (start - now).total_seconds() < BEAT_START_MARGIN_SECONDS:
        start += dt.timedelta(minutes=1)
    return start.strftime("%H:%M"), (start - now).total_seconds()


def test_beat_schedule_uses_nightly_at(tmp_path):
    celery = make_celery(tmp_path, NIGHTLY_AT="23:45")

    entry = celery.conf.beat_schedule["nightly-digest"]

    assert entry["task"] == "workers.tasks.run_nightly"
    assert entry["schedule"].hour == {23}
    assert entry["schedule"].minute == {45}
    assert celery.conf.timezone == "UTC"


def test_beat_schedule_default_time(tmp_path):
    celery = make_celery(tmp_path)

    schedule = celery.conf.beat_schedule["nightly-digest"]["schedule"]

    assert schedule.hour == {5}
    assert schedule.minute == {0}


def test_beat_task_is_registered(tmp_path):
    celery = make_celery(tmp_path)

    # The worker imports the modules of the ``include`` setting the same way.
    celery.loader.import_default_modules()

    assert celery.conf.beat_schedule["nightly-digest"]["task"] in celery.tasks


@pytest.mark.parametrize("value", ["24:00", "05:60", "5pm", "0530", "05:30:00", "noon"])
def test_invalid_nightly_at_raises(tmp_path, value):
    with pytest.raises(ConfigError) as raised:
        make_celery(tmp_path, NIGHTLY_AT=value)

    message = str(raised.value)
    assert f"DIGEST_NIGHTLY_AT={value!r}" in message
    assert "write it as HH:MM in UTC" in message


def test_next_nightly_at_keeps_margin():
    now = dt.datetime(2025, 4, 11, 23, 59, 50, tzinfo=dt.timezone.utc)

    nightly_at, seconds = next_nightly_at(now)

    assert nightly_at == "00:01"
    assert seconds == 70


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_beat_runs_night_at_nightly_at(broker_app, broker_settings, celery_worker, start_celery, tmp_path):
    ids = add_sample_subscribers(broker_app)
    schedule_file = tmp_path / "beat" / "celerybeat-schedule"
    schedule_file.parent.mkdir()

    nightly_at, seconds = next_nightly_at(dt.datetime.now(dt.timezone.utc))
    beat = start_celery(
        "beat", {**broker_settings, "DIGEST_NIGHTLY_AT": nightly_at},
        f"--schedule={schedule_file}", "--max-interval=5",
    )
    beat.wait_for_log("beat: Starting...")
    statuses = wait_for_deliveries(broker_app, len(ids), timeout=seconds + 60)

    assert statuses == {subscriber_id: DeliveryStatus.SENT for subscriber_id in ids.values()}
    assert "Sending due task nightly-digest (workers.tasks.run_nightly)" in beat.log()

"""Fixtures of the worker tests: the feed server, apps with and without a broker, and real Celery processes.

The broker tests start ``celery worker`` (and ``celery beat``) as subprocesses
on the Redis test database (REDIS_URL, db 15), which they flush first, and on
the session's PostgreSQL database. Each such test holds a file lock while it
uses Redis, because two test sessions on one Redis database would flush it
under each other and their workers would take each other's tasks.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from digest import create_app, services
from digest.models import Delivery, DeliveryStatus
from digest.sources.store import fetch_and_store
from digest.subscriptions import add_subscriber
from digest.topics import TopicKind, parse_topic
from tests.conftest import AUDIO_FEED, MAIN_FEED, REDIS_URL, ROOT, read_outbox, require_service
from tests.servers.feed_server import FeedServer, feed_server  # noqa: F401 (a fixture)
from workers import init_celery

#: The announcement date of the sample feeds that the feed server serves by default.
DIGEST_DATE = dt.date(2025, 4, 11)
MAIN_FEED_PATH = "rss/cs.CL+cs.CV+cs.MM+cs.LG+cs.SI"
AUDIO_FEED_PATH = "rss/cs.SD+eess.AS"

#: Subscribers whose keywords each match papers of DIGEST_DATE. The sample feeds have
#: no <category> elements, so category topics would match nothing.
SUBSCRIBERS = {
    "ada@example.org": [(TopicKind.KEYWORD, "diffusion models")],
    "alan@example.org": [(TopicKind.KEYWORD, "speech recognition"), (TopicKind.KEYWORD, "text-to-speech")],
    "grace@example.org": [(TopicKind.KEYWORD, "large language models")],
}

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
REDIS_LOCK_TIMEOUT_SECONDS = 900
POLL_SECONDS = 0.2

FINAL_STATUSES = frozenset(status for status in DeliveryStatus
                           if status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING))
_PROCESSES = pytest.StashKey[list["CeleryProcess"]]()


class CeleryProcess:
    """One ``celery`` command running in a process group of its own, logging to a file."""

    def __init__(self, name: str, arguments: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.arguments = arguments
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", *self.arguments]
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait until ``text`` appears in the log, or raise when the process exits or ``timeout`` seconds pass.

        The report of a failed test shows the whole log, so the errors only name its file.
        """
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"celery {self.name} exited with status {self.process.returncode} before logging "
                    f"{text!r}: see its log, {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"celery {self.name} did not log {text!r} within {timeout} s: see its log, {self.log_path}"
                )
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Ask for a warm shutdown, and kill the process group when it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Add the log of every Celery process of a failed test to its report."""
    report = yield
    if report.failed:
        for process in item.stash.get(_PROCESSES, []):
            report.sections.append((f"celery {process.name} log", process.log()))
    return report


def subprocess_env(settings: dict[str, str]) -> dict[str, str]:
    """Return this process's environment with its DIGEST_* variables replaced by ``settings``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DIGEST_")}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_celery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., CeleryProcess]]:
    """Start ``celery worker`` or ``celery beat`` processes that are stopped after the test, failed or not."""
    started: list[CeleryProcess] = []
    request.node.stash[_PROCESSES] = started

    def start(command: str, settings: dict[str, str], *options: str) -> CeleryProcess:
        name = f"{command}-{len(started) + 1}"
        process = CeleryProcess(name, [command, "--loglevel=INFO", *options],
                                subprocess_env(settings), tmp_path / f"celery-{name}.log")
        started.append(process)
        return process.start()

    yield start
    for process in reversed(started):
        process.stop()


@contextmanager
def exclusive_redis_database(url: str, timeout: float = REDIS_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold a file lock that keeps other test sessions on this machine off the Redis database ``url``."""
    url_hash = hashlib.sha256(url.encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"paper-digest-tests-redis-{url_hash}.lock"
    with lock_path.open("a") as lock_file:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Another test session held {lock_path} for {timeout} s while using {url}: "
                        "wait for it to finish, or give this session its own DIGEST_TEST_REDIS_URL."
                    ) from None
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """The Redis test database, for this test alone, flushed before and after it."""
    require_service("Redis", REDIS_URL)
    with exclusive_redis_database(REDIS_URL):
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        yield REDIS_URL
        client.flushdb()
        client.close()


@pytest.fixture
def sample_feeds(feed_server: FeedServer) -> list[str]:
    """The URLs of the two sample feeds of DIGEST_DATE on the feed server."""
    return [
        feed_server.serve_file(MAIN_FEED_PATH, MAIN_FEED / f"{DIGEST_DATE}.xml"),
        feed_server.serve_file(AUDIO_FEED_PATH, AUDIO_FEED / f"{DIGEST_DATE}.xml"),
    ]


@pytest.fixture
def make_app() -> Iterator[Callable[[dict[str, str]], Flask]]:
    """Build migrated apps set up for Celery from DIGEST_* settings, disposed after the test."""
    apps: list[Flask] = []

    def make(settings: dict[str, str]) -> Flask:
        app = create_app(settings, config={"TESTING": True})
        services(app).db.upgrade()
        init_celery(app)
        apps.append(app)
        return app

    yield make
    for app in apps:
        services(app).db.dispose()


@pytest.fixture
def broker_settings(settings_env: dict[str, str], redis_broker: str, sample_feeds: list[str]) -> dict[str, str]:
    """``settings_env`` with the Redis broker and the sample feeds on the feed server."""
    return {**settings_env, "DIGEST_BROKER_URL": redis_broker, "DIGEST_FEEDS": " ".join(sample_feeds)}


@pytest.fixture
def broker_app(make_app, broker_settings: dict[str, str]) -> Flask:
    """An app that sends its tasks through Redis, on a database migrated before any worker starts."""
    return make_app(broker_settings)


@pytest.fixture
def celery_worker(request: pytest.FixtureRequest, broker_app: Flask, broker_settings: dict[str, str],
                  start_celery) -> CeleryProcess:
    """A ``celery worker`` of concurrency 2 on the broker app's settings, ready for tasks.

    Its pool is ``prefork``, Celery's default and what docker-compose.yml runs,
    unless the test parametrizes this fixture with another pool name.
    """
    pool = getattr(request, "param", "prefork")
    node = f"digest-test-{uuid.uuid4().hex[:8]}"
    worker = start_celery(
        "worker", broker_settings, f"--pool={pool}", "--concurrency=2", f"--hostname={node}@%h",
        "--without-mingle", "--without-gossip",
    )
    worker.wait_for_log(" ready.")
    return worker


def add_sample_subscribers(app: Flask) -> dict[str, int]:
    """Add SUBSCRIBERS as active subscribers and return their ids by address."""
    ids: dict[str, int] = {}
    with services(app).db.session() as session:
        for address, topics in SUBSCRIBERS.items():
            subscriber = add_subscriber(session, address, [parse_topic(kind, value) for kind, value in topics])
            ids[address] = subscriber.id
    return ids


def store_sample_night(app: Flask) -> None:
    """Store the sample papers of DIGEST_DATE from the files, without the feed server or a worker."""
    for feed in (MAIN_FEED, AUDIO_FEED):
        fetch_and_store(services(app).db, str(feed / f"{DIGEST_DATE}.xml"))


def delivery_statuses(app: Flask, digest_date: dt.date = DIGEST_DATE) -> dict[int, DeliveryStatus]:
    """Return the status of each delivery of ``digest_date`` by subscriber id."""
    with services(app).db.session() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.status).where(Delivery.digest_date == digest_date)
        ).all()
    return {subscriber_id: status for subscriber_id, status in rows}


def wait_for_deliveries(app: Flask, count: int, timeout: float = 60,
                        digest_date: dt.date = DIGEST_DATE) -> dict[int, DeliveryStatus]:
    """Poll until ``count`` deliveries of ``digest_date`` exist and none is pending or sending."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = delivery_statuses(app, digest_date)
        if len(statuses) >= count and set(statuses.values()) <= FINAL_STATUSES:
            return statuses
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} deliveries of {digest_date} were not all finished within {timeout} s: {statuses}")
        time.sleep(POLL_SECONDS)


def outbox_recipients(app: Flask) -> list[str]:
    """Return the recipient of each digest in the app's outbox, sorted."""
    return sorted(message["To"] for message in read_outbox(app, "digest"))

"""Fixtures shared by every test: apps on SQLite and PostgreSQL, Redis, and the sample feeds.

PostgreSQL and Redis are the servers already running on 127.0.0.1 (override with
DIGEST_TEST_POSTGRES_URL and DIGEST_TEST_REDIS_URL). When one is missing, the
tests that need it are skipped with a message naming it, except under CI=true,
where they fail.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from digest import create_app, services
from digest.cli import main
from digest.models import Base

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_FEEDS = ROOT / "sample_data" / "arxiv-rss"
MAIN_FEED = SAMPLE_FEEDS / "cs.CL+cs.CV+cs.MM+cs.LG+cs.SI"
AUDIO_FEED = SAMPLE_FEEDS / "cs.SD+eess.AS"

POSTGRES_URL = os.environ.get("DIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DIGEST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_service(name: str, url: str) -> None:
    """Skip the test when ``url``'s server does not accept connections, or fail under CI."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port), timeout=2):
            return
    except OSError as exc:
        message = f"{name} is not reachable at {parts.hostname}:{parts.port} ({exc}): start it to run this test."
    if os.environ.get("CI") == "true":
        pytest.fail(message + " Under CI=true this is a failure, not a skip.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a database of its own for this test session and drop it at the end."""
    require_service("PostgreSQL", POSTGRES_URL.replace("postgresql+psycopg", "postgresql"))
    name = f"digest_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'digest.sqlite3'}"
        return

    url = request.getfixturevalue("postgres_database")
    yield url
    engine = sa.create_engine(url)
    existing = set(sa.inspect(engine).get_table_names())
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables if table.name in existing)
    if tables:
        with engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The DIGEST_* variables of a test app; tests may change them before using ``app``."""
    return {
        "DIGEST_DATA_DIR": str(tmp_path / "data"),
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAIL_BACKEND": "outbox",
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_BASE_URL": "http://127.0.0.1:5000",
        "DIGEST_SECRET_KEY": "test-secret-key",
        "DIGEST_MAIL_FROM": "Paper Digest <digest@example.org>",
    }


@pytest.fixture
def app(settings_env: dict[str, str]) -> Iterator[Flask]:
    """A migrated app whose tasks run eagerly (no broker) and whose mail goes to an outbox."""
    app = create_app(settings_env, config={"TESTING": True})
    services(app).db.upgrade()
    yield app
    services(app).db.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def cli(settings_env: dict[str, str]):
    """Run ``digest`` commands on a migrated database with the test settings."""
    runner = CliRunner(env=settings_env)

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    assert invoke("init-db").exit_code == 0
    return invoke


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def read_outbox(app: Flask, kind: str | None = None) -> list[EmailMessage]:
    """Parse the ``.eml`` files in the app's outbox, oldest first, optionally only one kind."""
    directory = services(app).settings.outbox_dir
    paths = sorted(directory.glob("*.eml")) if directory.exists() else []
    if kind is not None:
        paths = [path for path in paths if f"-{kind}-" in path.name]
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in paths]

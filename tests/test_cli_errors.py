"""Setting and database problems reach the command line as one line with the fix, not a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from digest import create_app
from digest.cli import main
from tests.conftest import MAIN_FEED


def run(env: dict[str, str], *args: str):
    return CliRunner(env=env).invoke(main, list(args))


# Other tests migrate the session's PostgreSQL database, so only SQLite starts empty here.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("command", [["run-night"], ["preview", "ada@example.org"], ["fetch", str(MAIN_FEED / "2025-04-10.xml")]])
def test_command_before_init_db(settings_env: dict[str, str], command: list[str]):
    result = run(settings_env, *command)

    assert result.exit_code == 1
    assert result.output == "Error: The database has no tables yet: run `digest init-db` first.\n"


# The PostgreSQL test database is shared by the whole session, so its version must stay untouched.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unknown_migration_is_explained(settings_env: dict[str, str]):
    assert run(settings_env, "init-db").exit_code == 0
    engine = sa.create_engine(settings_env["DIGEST_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()

    result = run(settings_env, "run-night")

    assert result.exit_code == 1
    assert "at migration 9999, which this version does not know" in result.output


def test_unreachable_database_is_one_line(settings_env: dict[str, str]):
    env = {**settings_env, "DIGEST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/missing"}

    result = run(env, "run-night")

    assert result.exit_code == 1
    assert result.output.startswith("Error: The database cannot be used (")
    assert "check DIGEST_DATABASE_URL" in result.output


def test_file_that_is_not_database(settings_env: dict[str, str], tmp_path: Path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("not a database", encoding="utf-8")

    result = run({**settings_env, "DIGEST_DATABASE_URL": f"sqlite:///{path}"}, "run-night")

    assert result.output == (
        "Error: The database cannot be used (file is not a database): "
        "check DIGEST_DATABASE_URL and that the server is running.\n"
    )


def test_unwritable_data_dir_names_setting(settings_env: dict[str, str], tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    env = {**settings_env, "DIGEST_DATA_DIR": str(blocker / "data")}
    del env["DIGEST_DATABASE_URL"]

    result = run(env, "init-db")

    assert result.exit_code == 1
    assert "for the SQLite database cannot be created" in result.output
    assert "set DIGEST_DATA_DIR or DIGEST_DATABASE_URL to a writable place" in result.output


def test_unreachable_broker_is_one_line(settings_env: dict[str, str]):
    assert run(settings_env, "init-db").exit_code == 0
    assert run(settings_env, "fetch", str(MAIN_FEED / "2025-04-10.xml")).exit_code == 0

    result = run({**settings_env, "DIGEST_BROKER_URL": "redis://127.0.0.1:1/0"}, "run-night")

    assert result.exit_code == 1
    assert "Error: The Celery broker cannot be reached" in result.output
    assert "unset DIGEST_BROKER_URL" in result.output


def test_preview_unwritable_output(settings_env: dict[str, str], tmp_path: Path):
    run(settings_env, "init-db")
    run(settings_env, "fetch", str(MAIN_FEED / "2025-04-10.xml"))
    run(settings_env, "add-subscriber", "ada@example.org", "-k", "diffusion")

    result = run(settings_env, "preview", "ada@example.org", "--output", str(tmp_path / "missing" / "x.html"))

    assert result.exit_code == 1
    assert "x.html' failed (No such file or directory): choose a writable file." in result.output


def test_default_secret_key_warns(settings_env: dict[str, str], caplog: pytest.LogCaptureFixture):
    env = {key: value for key, value in settings_env.items() if key != "DIGEST_SECRET_KEY"}

    with caplog.at_level(logging.WARNING, logger="digest"):
        create_app(env)

    assert "DIGEST_SECRET_KEY is not set, so anyone can forge the links in emails" in caplog.text


def test_set_secret_key_is_quiet(settings_env: dict[str, str], caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="digest"):
        create_app(settings_env)

    assert "DIGEST_SECRET_KEY" not in caplog.text

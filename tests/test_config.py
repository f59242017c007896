from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_settings
from digest.errors import ConfigError


def test_defaults_are_embedded(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = load_settings({})

    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'digest.sqlite3'}"
    assert settings.broker_url is None
    assert settings.eager_tasks is True
    assert settings.mail_backend == "outbox"
    assert settings.outbox_dir == tmp_path / "instance" / "outbox"
    assert settings.feeds == ()


def test_feeds_split_on_commas_and_spaces():
    settings = load_settings({"DIGEST_FEEDS": "http://127.0.0.1:8000/a.xml, http://127.0.0.1:8000/b.xml\n/tmp/c.xml"})

    assert settings.feeds == ("http://127.0.0.1:8000/a.xml", "http://127.0.0.1:8000/b.xml", "/tmp/c.xml")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DIGEST_MAIL_BACKEND": "pigeon"}, r"DIGEST_MAIL_BACKEND='pigeon' is not a known mail backend: set it to one of outbox, sendgrid, smtp"),
        ({"DIGEST_MAIL_BACKEND": "sendgrid"}, r"set DIGEST_SENDGRID_API_KEY"),
        ({"DIGEST_BASE_URL": "example.org"}, r"DIGEST_BASE_URL='example.org' is not a valid URL: write it as http://host"),
        ({"DIGEST_MAX_PAPERS": "many"}, r"DIGEST_MAX_PAPERS='many' is invalid: set a whole number from 1 to 200"),
        ({"DIGEST_MAX_PAPERS": "0"}, r"DIGEST_MAX_PAPERS='0' is invalid"),
        ({"DIGEST_SMTP_PORT": "99999"}, r"DIGEST_SMTP_PORT='99999' is invalid"),
        ({"DIGEST_SMTP_STARTTLS": "maybe"}, r"DIGEST_SMTP_STARTTLS='maybe' is invalid: set it to true or false"),
        ({"DIGEST_DATABASE_URL": "nonsense"}, r"DIGEST_DATABASE_URL='nonsense' is not a PostgreSQL or SQLite URL"),
        ({"DIGEST_DATABASE_URL": "mysql://root:hunter2@127.0.0.1/digest"}, r"'mysql://root:\*\*\*@127.0.0.1/digest' is not a PostgreSQL"),
        ({"DIGEST_BROKER_URL": "nonsense"}, r"DIGEST_BROKER_URL='nonsense' is not a valid URL: write it as redis://host"),
        ({"DIGEST_BROKER_URL": "http://127.0.0.1:6379"}, r"with a scheme among redis, rediss"),
        ({"DIGEST_MAIL_FROM": "nonsense"}, r"DIGEST_MAIL_FROM='nonsense' has no email address: write it as 'Name <address@example.org>'"),
        ({"DIGEST_NIGHTLY_AT": "25:00"}, r"DIGEST_NIGHTLY_AT='25:00' is not a time of day: write it as HH:MM"),
    ],
)
def test_bad_setting_names_value_and_fix(environ: dict[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_blank_setting_means_default():
    assert load_settings({"DIGEST_MAX_PAPERS": "  "}).max_papers == 20

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from digest.cli import main
from digest.models import Delivery
from tests.conftest import MAIN_FEED, ROOT

COMMANDS = ["init-db", "fetch", "add-subscriber", "import-subscribers", "run-night", "preview", "serve"]


@pytest.fixture
def demo_cli(cli):
    assert cli("fetch", str(MAIN_FEED / "2025-04-10.xml")).exit_code == 0
    assert cli("import-subscribers", str(ROOT / "sample_data" / "subscribers.json")).exit_code == 0
    return cli


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str):
    result = CliRunner().invoke(main, [command, "--help"])

    assert result.exit_code == 0
    assert "Usage: main " + command in result.output or f"Usage: digest {command}" in result.output


def test_fetch_reports_counts(cli):
    result = cli("fetch", str(MAIN_FEED / "2025-04-10.xml"))

    assert "419 new, 0 updated, 0 already stored" in result.output


def test_fetch_missing_file_names_it(cli, tmp_path: Path):
    result = cli("fetch", str(tmp_path / "missing.xml"))

    assert result.exit_code == 1
    assert "missing.xml' does not exist: give an existing file or an http(s) URL" in result.output


def test_run_night_prints_summary(demo_cli, settings_env: dict[str, str]):
    result = demo_cli("run-night", "--date", "2025-04-10")

    assert result.exit_code == 0
    assert "Digests for 2025-04-10:" in result.output
    assert "ada@example.org" in result.output
    assert f"Emails are in {settings_env['DIGEST_OUTBOX_DIR']}" in result.output


def test_run_night_defaults_to_latest(demo_cli):
    result = demo_cli("run-night")

    assert "Digests for 2025-04-10:" in result.output


def test_run_night_without_papers_says_fetch(cli):
    result = cli("run-night")

    assert result.exit_code == 1
    assert "No papers are stored: run `digest fetch` first." in result.output


def test_run_night_rejects_bad_date(cli):
    result = cli("run-night", "--date", "10/04/2025")

    assert result.exit_code == 2
    assert "'10/04/2025' is not a date: write it as YYYY-MM-DD" in result.output


def test_add_subscriber_rejects_category(cli):
    result = cli("add-subscriber", "ada@example.org", "--category", "biology")

    assert result.exit_code == 1
    assert "The arXiv category 'biology' is not valid" in result.output


def test_add_subscriber_twice_suggests_replace(cli):
    cli("add-subscriber", "ada@example.org", "-k", "diffusion")

    result = cli("add-subscriber", "ada@example.org", "-k", "reasoning")

    assert result.exit_code == 1
    assert "'ada@example.org' is already a subscriber: pass --replace" in result.output


def test_add_subscriber_rejects_email(cli):
    result = cli("add-subscriber", "ada.example.org", "-k", "diffusion")

    assert result.exit_code == 1
    assert "'ada.example.org' is not a valid email address" in result.output


def test_import_rejects_bad_json(cli, tmp_path: Path):
    path = tmp_path / "subscribers.json"
    path.write_text("[{", encoding="utf-8")

    result = cli("import-subscribers", str(path))

    assert result.exit_code == 1
    assert "is not valid JSON" in result.output


def test_import_rejects_entry_without_email(cli, tmp_path: Path):
    path = tmp_path / "subscribers.json"
    path.write_text(json.dumps([{"keywords": ["diffusion"]}]), encoding="utf-8")

    result = cli("import-subscribers", str(path))

    assert "Entry 1 of" in result.output
    assert 'has no "email" field' in result.output


def test_preview_sends_nothing(demo_cli, settings_env: dict[str, str], tmp_path: Path):
    output = tmp_path / "preview.html"

    result = demo_cli("preview", "ada@example.org", "--output", str(output))

    assert result.exit_code == 0
    assert result.output.splitlines()[1].startswith("Subject: ")
    assert "<html" in output.read_text(encoding="utf-8")
    assert not Path(settings_env["DIGEST_OUTBOX_DIR"]).exists()
    engine = create_engine(settings_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Delivery)) == 0
    engine.dispose()


def test_preview_unknown_subscriber(demo_cli):
    result = demo_cli("preview", "nobody@example.org")

    assert result.exit_code == 1
    assert "No subscriber has the address 'nobody@example.org'" in result.output


def test_bad_setting_is_one_line(cli, settings_env: dict[str, str]):
    result = CliRunner(env={**settings_env, "DIGEST_MAIL_BACKEND": "pigeon"}).invoke(main, ["init-db"])

    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: DIGEST_MAIL_BACKEND='pigeon'")

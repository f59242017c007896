"""Tests of the add-subscriber and import-subscribers commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from digest import services
from digest.cli import main
from digest.models import Subscriber, SubscriberStatus
from digest.subscriptions import find_subscriber, unsubscribe
from digest.topics import MAX_TOPICS
from tests.conftest import ROOT

SAMPLE_SUBSCRIBERS = ROOT / "sample_data" / "subscribers.json"
ADDRESS = "ada@example.org"


def write_json(tmp_path: Path, entries: object) -> str:
    path = tmp_path / "subscribers.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return str(path)


def unsubscribe_address(app: Flask, address: str = ADDRESS) -> None:
    with services(app).db.session() as session:
        subscriber = find_subscriber(session, address)
        assert subscriber is not None
        unsubscribe(session, subscriber.id)


def status_of(app: Flask, address: str = ADDRESS) -> SubscriberStatus | None:
    with services(app).db.session() as session:
        subscriber = find_subscriber(session, address)
        return None if subscriber is None else subscriber.status


def subscriber_count(app: Flask) -> int:
    with services(app).db.session() as session:
        return session.scalar(select(func.count()).select_from(Subscriber))


# Opt-outs


def test_reimport_keeps_unsubscribed_address(cli, app):
    cli("import-subscribers", str(SAMPLE_SUBSCRIBERS))
    unsubscribe_address(app)

    result = cli("import-subscribers", str(SAMPLE_SUBSCRIBERS))

    assert result.exit_code == 0
    assert "Imported 4 subscribers" in result.output
    assert f"Skipped 1 address that unsubscribed: {ADDRESS}." in result.output
    assert "Pass --resubscribe only if they asked" in result.output
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def test_import_resubscribe_flag_reactivates(cli, app):
    cli("import-subscribers", str(SAMPLE_SUBSCRIBERS))
    unsubscribe_address(app)

    result = cli("import-subscribers", "--resubscribe", str(SAMPLE_SUBSCRIBERS))

    assert result.exit_code == 0
    assert "0 added, 4 updated, 1 resubscribed" in result.output
    assert status_of(app) is SubscriberStatus.ACTIVE


def test_import_help_explains_resubscribe():
    result = CliRunner().invoke(main, ["import-subscribers", "--help"])

    assert "--resubscribe" in result.output
    assert "only when those people asked to come back" in " ".join(result.output.split())


def test_add_replace_keeps_opt_out(cli, app):
    cli("add-subscriber", ADDRESS, "-k", "diffusion")
    unsubscribe_address(app)

    result = cli("add-subscriber", ADDRESS, "--replace", "-k", "reasoning")

    assert result.exit_code == 1
    assert f"'{ADDRESS}' unsubscribed on " in result.output
    assert "pass --replace --resubscribe only if this person asked" in result.output
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def test_add_resubscribe_flag_reactivates(cli, app):
    cli("add-subscriber", ADDRESS, "-k", "diffusion")
    unsubscribe_address(app)

    result = cli("add-subscriber", ADDRESS, "--replace", "--resubscribe", "-k", "reasoning")

    assert result.exit_code == 0
    assert status_of(app) is SubscriberStatus.ACTIVE


# Import file checks


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"email": ADDRESS, "keywords": "reasoning"}, '"keywords": "reasoning" is a string, not a list'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": 0}, '"max_papers": 0 is out of range'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": -3}, '"max_papers": -3 is out of range'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": 100000}, '"max_papers": 100000 is out of range'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": "ten"}, '"max_papers": "ten" is not a whole number'),
        ({"email": ADDRESS, "keywords": [123]}, '"keywords" item 1: 123 is not a string'),
        ({"email": ADDRESS, "keywords": [None]}, '"keywords" item 1: null is not a string'),
        ({"email": ADDRESS, "keywords": ["a\x00b"]}, "The keyword 'a<U+0000>b' contains the invisible character"),
        ({"email": 5, "keywords": ["reasoning"]}, '"email": 5 is not a string'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "autors": ["Ada"]}, '"autors" is not a known field'),
        ({"email": "ada.example.org", "keywords": ["reasoning"]}, "(ada.example.org), \"email\": 'ada.example.org' is not"),
    ],
)
def test_import_rejects_invalid_entry(cli, app, tmp_path: Path, entry, expected):
    path = write_json(tmp_path, [{"email": "grace@example.org", "keywords": ["reasoning"]}, entry])

    result = cli("import-subscribers", path)

    assert result.exit_code == 1
    assert "has 1 problem, so no subscriber was added or changed" in result.output
    assert "Entry 2 of 2" in result.output
    assert expected in result.output
    assert subscriber_count(app) == 0


def test_import_lists_every_problem(cli, app, tmp_path: Path):
    path = write_json(tmp_path, [
        {"email": ADDRESS, "keywords": "reasoning"},
        {"email": "grace@example.org", "keywords": [123], "max_papers": "ten"},
        {"email": "alan@example.org", "keywords": ["speech"], "autors": ["Ada"]},
    ])

    result = cli("import-subscribers", path)

    assert "has 4 problems, so no subscriber was added or changed. Fix them" in result.output
    assert f'Entry 1 of 3 ({ADDRESS}), "keywords"' in result.output
    assert 'Entry 2 of 3 (grace@example.org), "keywords" item 1' in result.output
    assert 'Entry 2 of 3 (grace@example.org), "max_papers"' in result.output
    assert 'Entry 3 of 3 (alan@example.org): "autors"' in result.output
    assert "Traceback" not in result.output


def test_import_reads_byte_order_mark(cli, app, tmp_path: Path):
    path = tmp_path / "subscribers.json"
    path.write_text(json.dumps([{"email": ADDRESS, "keywords": ["reasoning"]}]), encoding="utf-8-sig")

    result = cli("import-subscribers", str(path))

    assert result.exit_code == 0
    assert status_of(app) is SubscriberStatus.ACTIVE


def test_import_reports_counts(cli):
    result = cli("import-subscribers", str(SAMPLE_SUBSCRIBERS))

    assert f"Imported 5 subscribers from {SAMPLE_SUBSCRIBERS}: 5 added, 0 updated, 0 resubscribed." in result.output


# add-subscriber checks


def test_add_subscriber_caps_topics(cli, app):
    options = [arg for number in range(MAX_TOPICS + 10) for arg in ("-k", f"topic {number}")]

    result = cli("add-subscriber", ADDRESS, *options)

    assert result.exit_code == 1
    assert f"{MAX_TOPICS + 10} topics were given: keep at most {MAX_TOPICS}." in result.output
    assert subscriber_count(app) == 0


def test_add_subscriber_one_topic_singular(cli):
    result = cli("add-subscriber", ADDRESS, "-k", "diffusion")

    assert result.output.rstrip().endswith("is active with 1 topic.")


def test_add_subscriber_two_topics_plural(cli):
    result = cli("add-subscriber", ADDRESS, "-k", "diffusion", "-a", "Yoshua Bengio")

    assert result.output.rstrip().endswith("is active with 2 topics.")


@pytest.mark.parametrize("address", ["a\x00da@example.org", "ada\x1b@example.org"])
def test_add_subscriber_control_email(cli, app, address):
    result = cli("add-subscriber", address, "-k", "diffusion")

    assert result.exit_code == 1
    assert f"{address!r} is not a valid email address" in result.output
    assert subscriber_count(app) == 0


def test_add_subscriber_zero_width_keyword(cli, app):
    result = cli("add-subscriber", ADDRESS, "-k", "ma\u200bchine learning")

    assert result.exit_code == 1
    assert "The keyword 'ma<U+200B>chine learning' contains the invisible character U+200B" in result.output
    assert subscriber_count(app) == 0

"""Tests of the subscriber rules every entry point shares: opt-outs, max_papers, topic limits, import checks."""

from __future__ import annotations

import html

import pytest
from flask import Flask

from digest import services
from digest.errors import SubscriberError
from digest.models import Subscriber, SubscriberStatus
from digest.subscriptions import (
    add_subscriber,
    check_import_entries,
    find_subscriber,
    import_entries,
    request_subscription,
    set_topics,
    unsubscribe,
)
from digest.topics import MAX_TOPICS, TopicKind, TopicSpec
from tests.web.conftest import count_rows, csrf_token, link_path, post_signup

ADDRESS = "ada@example.org"
TOPICS = [TopicSpec(TopicKind.KEYWORD, "diffusion models")]


def many_topics(count: int) -> list[TopicSpec]:
    return [TopicSpec(TopicKind.KEYWORD, f"topic {number}") for number in range(count)]


def add_unsubscribed(app: Flask, address: str = ADDRESS) -> int:
    """Add an active subscriber, then unsubscribe it as the one-click link does, and return its id."""
    with services(app).db.session() as session:
        subscriber_id = add_subscriber(session, address, TOPICS).id
        unsubscribe(session, subscriber_id)
    return subscriber_id


def status_of(app: Flask, address: str = ADDRESS) -> SubscriberStatus | None:
    with services(app).db.session() as session:
        subscriber = find_subscriber(session, address)
        return None if subscriber is None else subscriber.status


def check_one(entry: object) -> str:
    """Check a one-entry import file and return the error message."""
    with pytest.raises(SubscriberError) as excinfo:
        check_import_entries([entry], source="subscribers.json")
    return str(excinfo.value)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# Opt-outs


def test_replace_keeps_opt_out(app):
    add_unsubscribed(app)

    with services(app).db.session() as session, pytest.raises(SubscriberError) as excinfo:
        add_subscriber(session, ADDRESS, TOPICS, replace=True)

    assert f"{ADDRESS!r} unsubscribed on " in str(excinfo.value)
    assert "pass --replace --resubscribe only if this person asked" in str(excinfo.value)
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def test_resubscribe_reactivates_address(app):
    add_unsubscribed(app)

    with services(app).db.session() as session:
        add_subscriber(session, ADDRESS, TOPICS, replace=True, resubscribe=True)

    assert status_of(app) is SubscriberStatus.ACTIVE


def test_import_skips_unsubscribed_address(app):
    add_unsubscribed(app)
    entries = check_import_entries(
        [{"email": ADDRESS, "keywords": ["reasoning"]}, {"email": "grace@example.org", "keywords": ["reasoning"]}],
        source="subscribers.json",
    )

    with services(app).db.session() as session:
        result = import_entries(session, entries)

    assert result.skipped_unsubscribed == [ADDRESS]
    assert result.added == ["grace@example.org"]
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def test_import_resubscribe_reactivates_address(app):
    add_unsubscribed(app)
    entries = check_import_entries([{"email": ADDRESS, "keywords": ["reasoning"]}], source="subscribers.json")

    with services(app).db.session() as session:
        result = import_entries(session, entries, resubscribe=True)

    assert result.resubscribed == [ADDRESS]
    assert status_of(app) is SubscriberStatus.ACTIVE


# max_papers


@pytest.mark.parametrize("max_papers", [0, -3, 201, 100000, "ten", True, 2.5])
def test_add_subscriber_rejects_max_papers(app, max_papers):
    with services(app).db.session() as session, pytest.raises(SubscriberError) as excinfo:
        add_subscriber(session, ADDRESS, TOPICS, max_papers=max_papers)

    assert f"max_papers={max_papers!r} for {ADDRESS!r} is invalid" in str(excinfo.value)
    assert "give a whole number from 1 to 200" in str(excinfo.value)
    assert count_rows(app, Subscriber) == 0


@pytest.mark.parametrize("max_papers", [1, 200, None])
def test_add_subscriber_accepts_max_papers(app, max_papers):
    with services(app).db.session() as session:
        subscriber = add_subscriber(session, ADDRESS, TOPICS, max_papers=max_papers)

        assert subscriber.max_papers == max_papers


# Topic count


def test_add_subscriber_caps_topics(app):
    with services(app).db.session() as session, pytest.raises(SubscriberError) as excinfo:
        add_subscriber(session, ADDRESS, many_topics(MAX_TOPICS + 1))

    assert f"{MAX_TOPICS + 1} topics were given: keep at most {MAX_TOPICS}" in str(excinfo.value)
    assert count_rows(app, Subscriber) == 0


def test_add_subscriber_allows_max_topics(app):
    with services(app).db.session() as session:
        subscriber = add_subscriber(session, ADDRESS, many_topics(MAX_TOPICS))

        assert len(subscriber.topics) == MAX_TOPICS


def test_add_subscriber_counts_unique_topics(app):
    repeated = [TopicSpec(TopicKind.KEYWORD, "Diffusion")] * (MAX_TOPICS + 10)

    with services(app).db.session() as session:
        subscriber = add_subscriber(session, ADDRESS, repeated)

        assert len(subscriber.topics) == 1


def test_request_subscription_caps_topics(app):
    with services(app).db.session() as session, pytest.raises(SubscriberError, match="keep at most"):
        request_subscription(session, ADDRESS, many_topics(MAX_TOPICS + 1))

    assert count_rows(app, Subscriber) == 0


def test_set_topics_caps_count():
    subscriber = Subscriber(email=ADDRESS)

    with pytest.raises(SubscriberError, match=f"{MAX_TOPICS + 1} topics were given"):
        set_topics(subscriber, many_topics(MAX_TOPICS + 1))

    assert subscriber.topics == []


# Import file checks


def test_import_check_normalises_entry():
    [entry] = check_import_entries(
        [{"email": " Ada@Example.org ", "keywords": ["diffusion  models"], "categories": ["cs.cl"], "max_papers": 10}],
        source="subscribers.json",
    )

    assert entry.email == ADDRESS
    assert entry.topics == [
        TopicSpec(TopicKind.KEYWORD, "diffusion models"), TopicSpec(TopicKind.CATEGORY, "cs.CL"),
    ]
    assert entry.max_papers == 10


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"email": ADDRESS, "keywords": "reasoning"},
         f'Entry 1 of 1 ({ADDRESS}), "keywords": "reasoning" is a string, not a list: write it as ["reasoning"].'),
        ({"email": ADDRESS, "authors": {"name": "Ada"}},
         f'Entry 1 of 1 ({ADDRESS}), "authors": {{"name": "Ada"}} is not a list'),
        ({"email": ADDRESS, "keywords": [123]},
         f'Entry 1 of 1 ({ADDRESS}), "keywords" item 1: 123 is not a string: write it in quotes, as "123".'),
        ({"email": ADDRESS, "keywords": ["reasoning", None]},
         f'Entry 1 of 1 ({ADDRESS}), "keywords" item 2: null is not a string: remove it'),
        ({"email": ADDRESS, "categories": ["biology"]},
         f"Entry 1 of 1 ({ADDRESS}), \"categories\" item 1: The arXiv category 'biology' is not valid"),
        ({"email": ADDRESS, "keywords": ["a\x00b"]},
         f"Entry 1 of 1 ({ADDRESS}), \"keywords\" item 1: The keyword 'a<U+0000>b' contains"),
        ({"email": 5, "keywords": ["reasoning"]},
         'Entry 1 of 1, "email": 5 is not a string: write the address in quotes'),
        ({"email": "ada.example.org", "keywords": ["reasoning"]},
         "Entry 1 of 1 (ada.example.org), \"email\": 'ada.example.org' is not a valid email address"),
        ({"email": "a\x00da@example.org", "keywords": ["reasoning"]},
         "Entry 1 of 1 ('a\\x00da@example.org'), \"email\": 'a\\x00da@example.org' is not a valid email address"),
        ({"keywords": ["reasoning"]},
         'Entry 1 of 1 has no "email" field: add the address'),
        ({"email": ADDRESS},
         f'Entry 1 of 1 ({ADDRESS}): no topics: add at least one to "keywords", "categories" or "authors".'),
        ({"email": ADDRESS, "keywords": [f"topic {number}" for number in range(MAX_TOPICS + 1)]},
         f"Entry 1 of 1 ({ADDRESS}): {MAX_TOPICS + 1} topics: keep at most {MAX_TOPICS}."),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": "ten"},
         f'Entry 1 of 1 ({ADDRESS}), "max_papers": "ten" is not a whole number: write a number from 1 to 200'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": 0},
         f'Entry 1 of 1 ({ADDRESS}), "max_papers": 0 is out of range: write a number from 1 to 200'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "max_papers": None},
         f'Entry 1 of 1 ({ADDRESS}), "max_papers": null is not a whole number'),
        ({"email": ADDRESS, "keywords": ["reasoning"], "autors": ["Ada Lovelace"]},
         f'Entry 1 of 1 ({ADDRESS}): "autors" is not a known field: rename it to "authors" or remove it. '
         'The known fields are "email", "keywords", "categories", "authors", "max_papers".'),
        ("ada@example.org",
         'Entry 1 of 1 is "ada@example.org", not an object: write it as {"email": '),
    ],
)
def test_import_check_names_problem(entry, expected):
    assert expected in check_one(entry)


def test_import_check_reports_every_problem():
    entries = [
        {"email": "ada@example.org", "keywords": "reasoning"},
        {"email": "grace@example.org", "keywords": ["reasoning"]},
        {"email": "alan@example.org", "keywords": ["speech"], "max_papers": 100000},
        {"email": "ADA@example.org", "keywords": ["diffusion"]},
    ]

    with pytest.raises(SubscriberError) as excinfo:
        check_import_entries(entries, source="subscribers.json")

    message = str(excinfo.value)
    assert message.startswith("'subscribers.json' has 3 problems, so no subscriber was added or changed.")
    assert 'Entry 1 of 4 (ada@example.org), "keywords"' in message
    assert 'Entry 3 of 4 (alan@example.org), "max_papers": 100000 is out of range' in message
    assert "Entry 4 of 4 (ADA@example.org): the address is also in entry 1" in message
    assert "grace@example.org" not in message


def test_import_check_keeps_valid_file():
    entries = check_import_entries(
        [{"email": ADDRESS, "keywords": ["reasoning"]}, {"email": "grace@example.org", "authors": ["Hung-yi Lee"]}],
        source="subscribers.json",
    )

    assert [entry.email for entry in entries] == [ADDRESS, "grace@example.org"]


# Invisible characters through the web forms, on SQLite and PostgreSQL


def test_signup_rejects_nul_keyword(client, app):
    token = csrf_token(client.get("/").get_data(as_text=True))

    response = client.post(
        "/", data=f"csrf_token={token}&email=ada%40example.org&keywords=a%00b",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "The keyword 'a<U+0000>b' contains the invisible character U+0000" in page_text(response)
    assert "retype it by hand" in page_text(response)
    assert count_rows(app, Subscriber) == 0


def test_signup_rejects_zero_width_space(client, app):
    response = post_signup(client, email=ADDRESS, keywords="ma\u200bchine learning")

    assert response.status_code == 400
    assert "'ma<U+200B>chine learning' contains the invisible character U+200B (ZERO WIDTH SPACE)" in page_text(response)
    assert count_rows(app, Subscriber) == 0


@pytest.mark.parametrize("address", ["a\x00da@example.org", "ada@exam\x07ple.org"])
def test_signup_rejects_control_email(client, app, address):
    response = post_signup(client, email=address, keywords="protein folding")

    assert response.status_code == 400
    assert f"{address!r} is not a valid email address" in page_text(response)
    assert count_rows(app, Subscriber) == 0


def test_manage_rejects_nul_keyword(client, app):
    with services(app).db.session() as session:
        subscriber_id = add_subscriber(session, ADDRESS, TOPICS).id
    url = link_path(app, "manage", subscriber_id)
    token = csrf_token(client.get(url).get_data(as_text=True))

    response = client.post(url, data={"csrf_token": token, "keywords": "a\x00b"})

    assert response.status_code == 400
    assert "The keyword 'a<U+0000>b' contains" in page_text(response)

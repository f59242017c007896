"""Sign-up form tests through Flask's test client, with CSRF protection left on."""

from __future__ import annotations

import html

import pytest

from digest import services
from digest.models import Subscriber, SubscriberStatus, Topic
from digest.topics import MAX_TOPICS, TopicKind, TopicSpec
from tests.conftest import read_outbox
from tests.web.conftest import (
    count_rows,
    email_link,
    emails_to,
    find_subscriber,
    parse_page,
    post_signup,
)

ADDRESS = "ada@example.org"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def topic_specs(app, address: str) -> set[TopicSpec]:
    return {topic.spec for topic in find_subscriber(app, address).topics}


def confirm_by_email(client, app, address: str) -> None:
    """Open the confirmation link of the latest confirmation email sent to ``address``."""
    link = email_link(emails_to(app, "confirm", address)[-1], "confirm")
    assert client.get(link).status_code == 200


def test_signup_page_has_accessible_form(client):
    page = parse_page(client.get("/").get_data(as_text=True))
    visible = [name for name, attributes in page.fields.items() if attributes.get("type") != "hidden"]

    assert page.lang == "en"
    assert visible == ["email", "keywords", "categories", "authors"]
    for name in visible:
        assert page.fields[name]["id"] in page.label_targets, f"field {name!r} has no label"
    for name in ["keywords", "categories", "authors"]:
        assert page.fields[name].get("aria-describedby") == f"{name}-hint", f"field {name!r} hint not linked"
    assert page.alerts == []


def test_signup_stores_pending_subscriber(client, app):
    response = post_signup(
        client, email=" Ada@Example.org ", keywords="graph neural networks, protein folding",
        categories="cs.lg stat.ML", authors="Yoshua Bengio",
    )

    subscriber = find_subscriber(app, ADDRESS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/check-your-inbox"
    assert subscriber.status is SubscriberStatus.PENDING
    assert topic_specs(app, ADDRESS) == {
        TopicSpec(TopicKind.KEYWORD, "graph neural networks"),
        TopicSpec(TopicKind.KEYWORD, "protein folding"),
        TopicSpec(TopicKind.CATEGORY, "cs.LG"),
        TopicSpec(TopicKind.CATEGORY, "stat.ML"),
        TopicSpec(TopicKind.AUTHOR, "Yoshua Bengio"),
    }
    assert len(emails_to(app, "confirm", ADDRESS)) == 1


def test_check_inbox_page_explains_next_step(client):
    text = page_text(client.get("/check-your-inbox"))

    assert "Check your inbox" in text
    assert "works for 7 days" in text


def test_signup_without_csrf_token_rejected(client, app):
    response = client.post("/", data={"email": ADDRESS, "keywords": "protein folding"})

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 400
    assert count_rows(app, Subscriber) == 0
    assert read_outbox(app) == []
    assert any("The form expired or was sent from another site" in alert for alert in page.alerts)
    assert page.values["email"] == ADDRESS
    assert page.values["keywords"] == "protein folding"


def test_signup_with_wrong_csrf_token_rejected(client, app):
    client.get("/")
    response = client.post("/", data={"csrf_token": "forged", "email": ADDRESS, "keywords": "protein folding"})

    assert response.status_code == 400
    assert count_rows(app, Subscriber) == 0


def test_signup_form_resent_after_csrf_rejection(client, app):
    rejected = client.post("/", data={"email": ADDRESS, "keywords": "protein folding"})
    token = parse_page(rejected.get_data(as_text=True)).values["csrf_token"]

    response = client.post("/", data={"csrf_token": token, "email": ADDRESS, "keywords": "protein folding"})

    assert response.status_code == 302
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.PENDING


@pytest.mark.parametrize("address", ["ada.example.org", "ada@", "two@@example.org"])
def test_signup_invalid_email_names_value(client, app, address):
    response = post_signup(client, email=address, keywords="protein folding")

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 400
    assert any(f"{address!r} is not a valid email address" in alert for alert in page.alerts)
    assert page.fields["email"].get("aria-invalid") == "true"
    assert page.values["email"] == address
    assert page.values["keywords"] == "protein folding"
    assert count_rows(app, Subscriber) == 0


def test_signup_missing_email_asks_for_it(client, app):
    response = post_signup(client, email="", keywords="protein folding")

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 400
    assert any("Enter your email address." in alert for alert in page.alerts)
    assert count_rows(app, Subscriber) == 0


def test_signup_error_escapes_typed_html(client):
    typed = '<img src=x onerror="alert(1)">'

    response = post_signup(client, email=typed, keywords="protein folding")

    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<img" not in body
    assert "&lt;img src=x" in body


@pytest.mark.parametrize("category", ["cs.XYZ.9", "biology"])
def test_signup_invalid_category_names_value_and_fix(client, app, category):
    response = post_signup(
        client, email=ADDRESS, keywords="protein folding", categories=f"cs.LG {category}", authors="Yoshua Bengio",
    )

    page = parse_page(response.get_data(as_text=True))
    alert = " ".join(page.alerts)
    assert response.status_code == 400
    assert f"The arXiv category {category!r} is not valid" in alert
    assert "such as 'cs.CL' or 'math.AG'" in alert
    assert page.fields["categories"].get("aria-invalid") == "true"
    assert page.values == {
        "csrf_token": page.values["csrf_token"],
        "email": ADDRESS,
        "keywords": "protein folding",
        "categories": f"cs.LG {category}",
        "authors": "Yoshua Bengio",
    }
    assert count_rows(app, Subscriber) == 0


def test_signup_lists_every_error_at_once(client):
    response = post_signup(client, email="ada.example.org", keywords="protein folding", categories="biology")

    alert = " ".join(parse_page(response.get_data(as_text=True)).alerts)
    assert "'ada.example.org' is not a valid email address" in alert
    assert "The arXiv category 'biology' is not valid" in alert


def test_signup_without_topics_asks_for_one(client, app):
    response = post_signup(client, email=ADDRESS, keywords=" , ", categories="", authors="\n")

    alert = " ".join(parse_page(response.get_data(as_text=True)).alerts)
    assert response.status_code == 400
    assert "No topics were given: add at least one keyword, arXiv category or author." in alert
    assert count_rows(app, Subscriber) == 0
    assert read_outbox(app) == []


def test_signup_too_many_topics_rejected(client, app):
    keywords = ", ".join(f"topic {number}" for number in range(MAX_TOPICS))

    response = post_signup(client, email=ADDRESS, keywords=keywords, authors="Yoshua Bengio")

    alert = " ".join(parse_page(response.get_data(as_text=True)).alerts)
    assert response.status_code == 400
    assert f"{MAX_TOPICS + 1} topics were given: keep at most {MAX_TOPICS}." in alert
    assert count_rows(app, Subscriber) == 0


def test_signup_active_address_sends_reminder(client, app):
    post_signup(client, email=ADDRESS, keywords="protein folding")
    confirm_by_email(client, app, ADDRESS)
    before = topic_specs(app, ADDRESS)

    response = post_signup(client, email=ADDRESS, keywords="string theory", authors="Someone Else")

    reminders = emails_to(app, "reminder", ADDRESS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/check-your-inbox"
    assert len(reminders) == 1
    assert reminders[0]["Subject"] == "You are already subscribed to Paper Digest"
    assert len(emails_to(app, "confirm", ADDRESS)) == 1
    assert topic_specs(app, ADDRESS) == before
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.ACTIVE


def test_signup_after_unsubscribe_resubscribes(client, app):
    post_signup(client, email=ADDRESS, keywords="protein folding")
    confirm_by_email(client, app, ADDRESS)
    subscriber_id = find_subscriber(app, ADDRESS).id
    unsubscribe_url = services(app).links.url("unsubscribe", subscriber_id)
    assert client.post(unsubscribe_url).status_code == 200

    post_signup(client, email=ADDRESS, keywords="string theory")
    pending = find_subscriber(app, ADDRESS)
    confirm_by_email(client, app, ADDRESS)

    assert pending.id == subscriber_id
    assert pending.status is SubscriberStatus.PENDING
    assert len(emails_to(app, "confirm", ADDRESS)) == 2
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.ACTIVE
    assert topic_specs(app, ADDRESS) == {TopicSpec(TopicKind.KEYWORD, "string theory")}


def test_signup_pending_again_replaces_topics(client, app):
    post_signup(client, email=ADDRESS, keywords="protein folding")

    post_signup(client, email=ADDRESS, keywords="string theory")

    assert topic_specs(app, ADDRESS) == {TopicSpec(TopicKind.KEYWORD, "string theory")}
    assert len(emails_to(app, "confirm", ADDRESS)) == 2


def test_signup_mail_failure_stores_nothing(make_app, closed_port):
    app = make_app(DIGEST_MAIL_BACKEND="smtp", DIGEST_SMTP_HOST="127.0.0.1", DIGEST_SMTP_PORT=str(closed_port))
    client = app.test_client()

    response = post_signup(client, email=ADDRESS, keywords="protein folding")

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 503
    assert any("The confirmation email could not be sent, so nothing was saved." in alert for alert in page.alerts)
    assert page.values["keywords"] == "protein folding"
    assert count_rows(app, Subscriber) == 0
    assert count_rows(app, Topic) == 0

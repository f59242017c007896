"""Tests of changing one's topics on the manage page, with CSRF protection left on."""

from __future__ import annotations

from digest import services
from digest.models import SubscriberStatus
from digest.subscriptions import unsubscribe
from digest.topics import TopicKind, TopicSpec
from tests.web.conftest import (
    add_active_subscriber,
    add_pending_subscriber,
    alert_text,
    csrf_token,
    find_subscriber,
    link_path,
    parse_page,
)

ADDRESS = "ada@example.org"
TOPICS = [
    TopicSpec(TopicKind.KEYWORD, "protein folding"),
    TopicSpec(TopicKind.KEYWORD, "graph neural networks"),
    TopicSpec(TopicKind.CATEGORY, "cs.LG"),
    TopicSpec(TopicKind.CATEGORY, "q-bio.BM"),
    TopicSpec(TopicKind.AUTHOR, "Yoshua Bengio"),
]


def topic_specs(app) -> list[TopicSpec]:
    return [topic.spec for topic in find_subscriber(app, ADDRESS).topics]


def post_topics(client, url: str, **fields: str):
    """Open the manage page like a browser, then send its topic form with ``fields``."""
    token = csrf_token(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **fields})


def test_manage_form_prefilled_with_topics(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    page = parse_page(client.get(link_path(app, "manage", subscriber_id)).get_data(as_text=True))

    assert page.values["keywords"] == "protein folding\ngraph neural networks"
    assert page.values["categories"] == "cs.LG q-bio.BM"
    assert page.values["authors"] == "Yoshua Bengio"


def test_manage_saves_new_topics(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    url = link_path(app, "manage", subscriber_id)

    response = post_topics(client, url, keywords="protein folding, string theory", categories="hep-th", authors="")
    saved_page = client.get(response.headers["Location"])

    assert response.status_code == 302
    assert response.headers["Location"] == f"{url}?saved=1"
    assert "Your topics were saved." in saved_page.get_data(as_text=True)
    assert topic_specs(app) == [
        TopicSpec(TopicKind.KEYWORD, "protein folding"),
        TopicSpec(TopicKind.KEYWORD, "string theory"),
        TopicSpec(TopicKind.CATEGORY, "hep-th"),
    ]
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.ACTIVE


def test_manage_saves_unchanged_form(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    url = link_path(app, "manage", subscriber_id)
    values = parse_page(client.get(url).get_data(as_text=True)).values

    response = client.post(url, data=values)

    assert response.status_code == 302
    assert topic_specs(app) == TOPICS


def test_manage_pending_subscriber_can_edit(client, app):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)

    response = post_topics(client, link_path(app, "manage", subscriber_id), keywords="string theory")

    assert response.status_code == 302
    assert topic_specs(app) == [TopicSpec(TopicKind.KEYWORD, "string theory")]
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.PENDING


def test_manage_invalid_category_keeps_topics(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    response = post_topics(
        client, link_path(app, "manage", subscriber_id), keywords="string theory", categories="cs.XYZ.9",
    )

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "The arXiv category 'cs.XYZ.9' is not valid" in " ".join(page.alerts)
    assert page.fields["categories"].get("aria-invalid") == "true"
    assert page.values["keywords"] == "string theory"
    assert page.values["categories"] == "cs.XYZ.9"
    assert topic_specs(app) == TOPICS


def test_manage_without_topics_rejected(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    response = post_topics(client, link_path(app, "manage", subscriber_id), keywords="", categories="", authors="")

    assert response.status_code == 400
    assert "No topics were given: add at least one keyword, arXiv category or author." in alert_text(response)
    assert topic_specs(app) == TOPICS


def test_manage_post_without_csrf_rejected(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    response = client.post(link_path(app, "manage", subscriber_id), data={"keywords": "string theory"})

    assert response.status_code == 400
    assert "The form expired or was sent from another site, so nothing was changed." in alert_text(response)
    assert topic_specs(app) == TOPICS


def test_manage_post_after_unsubscribe_rejected(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    url = link_path(app, "manage", subscriber_id)
    token = csrf_token(client.get(url).get_data(as_text=True))
    with services(app).db.session() as session:
        unsubscribe(session, subscriber_id)

    response = client.post(url, data={"csrf_token": token, "keywords": "string theory"})

    assert response.status_code == 409
    assert "has ended, so no digest is sent" in response.get_data(as_text=True)
    assert topic_specs(app) == TOPICS

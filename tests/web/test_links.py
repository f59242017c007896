"""Tests of the pages behind the emailed links: confirm, manage and unsubscribe."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from digest import services
from digest.links import CONFIRM_MAX_AGE_SECONDS, Links
from digest.models import Subscriber, SubscriberStatus
from digest.subscriptions import unsubscribe
from digest.topics import TopicKind, TopicSpec
from tests.web.conftest import (
    add_active_subscriber,
    add_pending_subscriber,
    alert_text,
    find_subscriber,
    link_path,
    parse_page,
)

ADDRESS = "ada@example.org"
TOPICS = [TopicSpec(TopicKind.KEYWORD, "protein folding"), TopicSpec(TopicKind.AUTHOR, "Yoshua Bengio")]


def status_of(app) -> SubscriberStatus:
    return find_subscriber(app, ADDRESS).status


def page_link(body: str, purpose: str) -> str:
    """Return the one link of a page whose path starts with ``/purpose/``."""
    links = re.findall(rf'href="(/{purpose}/[^"]+)"', body)
    assert len(links) == 1, f"expected one /{purpose}/ link, found {links}"
    return links[0]


def link_subscriber_id(app, link: str, purpose: str) -> int:
    return services(app).links.subscriber_id(purpose, link.rsplit("/", 1)[-1])


def test_confirm_activates_pending_subscriber(client, app):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)

    response = client.get(link_path(app, "confirm", subscriber_id))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Subscription confirmed" in body
    assert "Keyword:</span> protein folding" in body
    assert "Author:</span> Yoshua Bengio" in body
    assert link_subscriber_id(app, page_link(body, "manage"), "manage") == subscriber_id
    assert status_of(app) is SubscriberStatus.ACTIVE
    assert find_subscriber(app, ADDRESS).confirmed_at is not None


def test_confirm_twice_stays_active(client, app):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)
    client.get(link_path(app, "confirm", subscriber_id))
    confirmed_at = find_subscriber(app, ADDRESS).confirmed_at

    response = client.get(link_path(app, "confirm", subscriber_id))

    assert response.status_code == 200
    assert status_of(app) is SubscriberStatus.ACTIVE
    assert find_subscriber(app, ADDRESS).confirmed_at == confirmed_at


def test_confirm_page_escapes_topic_html(client, app):
    topic = TopicSpec(TopicKind.KEYWORD, "<script>alert(1)</script> folding")
    subscriber_id = add_pending_subscriber(app, ADDRESS, [topic])

    body = client.get(link_path(app, "confirm", subscriber_id)).get_data(as_text=True)

    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; folding" in body


def test_confirm_after_unsubscribe_rejected(client, app):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)
    with services(app).db.session() as session:
        unsubscribe(session, subscriber_id)

    response = client.get(link_path(app, "confirm", subscriber_id))

    assert response.status_code == 410
    assert "sign up again to restart it" in alert_text(response)
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def damaged(token: str) -> str:
    """Change a character in the middle of the signature, as a mangled copy and paste might.

    The last base64 character carries unused bits, so changing it may leave the
    decoded signature the same.
    """
    position = len(token) - 10
    return token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:]


@pytest.mark.parametrize("make_token", [
    pytest.param(lambda app, sid: Links("http://127.0.0.1", "another-secret").token("confirm", sid), id="other-key"),
    pytest.param(lambda app, sid: damaged(services(app).links.token("confirm", sid)), id="damaged"),
    pytest.param(lambda app, sid: services(app).links.token("confirm", sid)[:-6], id="truncated"),
    pytest.param(lambda app, sid: services(app).links.token("manage", sid), id="other-purpose"),
    pytest.param(lambda app, sid: "not-a-token", id="garbage"),
])
def test_confirm_forged_token_shows_invalid_link(client, app, make_token):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)

    response = client.get(f"/confirm/{make_token(app, subscriber_id)}")

    page = parse_page(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "<h1>Invalid link</h1>" in response.get_data(as_text=True)
    assert "copy the whole link from the email" in " ".join(page.alerts)
    assert status_of(app) is SubscriberStatus.PENDING


@pytest.mark.parametrize("purpose", ["manage", "unsubscribe"])
def test_forged_token_rejected_on_every_link(client, app, purpose):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    token = Links("http://127.0.0.1", "another-secret").token(purpose, subscriber_id)

    get_response = client.get(f"/{purpose}/{token}")
    post_response = client.post(f"/{purpose}/{token}") if purpose == "unsubscribe" else get_response

    assert get_response.status_code == 400
    assert post_response.status_code == 400
    assert status_of(app) is SubscriberStatus.ACTIVE


def test_confirm_expired_token_shows_expired(client, app, monkeypatch):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)
    eight_days_ago = int(time.time()) - CONFIRM_MAX_AGE_SECONDS - 24 * 3600
    with monkeypatch.context() as patch:
        # Only the signing reads this clock, so the token looks issued eight days ago.
        patch.setattr(TimestampSigner, "get_timestamp", lambda signer: eight_days_ago)
        token = services(app).links.token("confirm", subscriber_id)

    response = client.get(f"/confirm/{token}")

    assert response.status_code == 400
    assert "<h1>Link expired</h1>" in response.get_data(as_text=True)
    assert "This link has expired: sign up again to get a new one." in alert_text(response)
    assert status_of(app) is SubscriberStatus.PENDING


def test_confirm_token_within_seven_days_works(client, app, monkeypatch):
    subscriber_id = add_pending_subscriber(app, ADDRESS, TOPICS)
    six_days_ago = int(time.time()) - CONFIRM_MAX_AGE_SECONDS + 24 * 3600
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda signer: six_days_ago)
        token = services(app).links.token("confirm", subscriber_id)

    response = client.get(f"/confirm/{token}")

    assert response.status_code == 200
    assert status_of(app) is SubscriberStatus.ACTIVE


def test_manage_lists_topics_and_status(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    response = client.get(link_path(app, "manage", subscriber_id))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"{ADDRESS} receives a digest" in body
    assert "Keyword:</span> protein folding" in body
    assert "Author:</span> Yoshua Bengio" in body
    assert link_subscriber_id(app, page_link(body, "unsubscribe"), "unsubscribe") == subscriber_id


def test_manage_after_unsubscribe_offers_signup(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    with services(app).db.session() as session:
        unsubscribe(session, subscriber_id)

    body = client.get(link_path(app, "manage", subscriber_id)).get_data(as_text=True)

    assert "has ended, so no digest is sent" in body
    assert "/unsubscribe/" not in body
    assert "Subscribe again" in body


def test_manage_deleted_subscriber_not_found(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    with services(app).db.session() as session:
        session.delete(session.get(Subscriber, subscriber_id))

    response = client.get(link_path(app, "manage", subscriber_id))

    assert response.status_code == 404
    assert "This subscription no longer exists: sign up again" in alert_text(response)


def test_unsubscribe_get_keeps_subscription(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)

    response = client.get(link_path(app, "unsubscribe", subscriber_id))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Stop sending the nightly digest to {ADDRESS}?" in body
    assert '<button type="submit">Unsubscribe</button>' in body
    assert status_of(app) is SubscriberStatus.ACTIVE


def test_unsubscribe_one_click_post(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    url = services(app).links.url("unsubscribe", subscriber_id)

    # RFC 8058: the mail client POSTs this body to the List-Unsubscribe URL, with no cookie or CSRF token.
    response = client.post(
        url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED
    assert find_subscriber(app, ADDRESS).unsubscribed_at is not None


def test_unsubscribe_twice_stays_unsubscribed(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    client.post(link_path(app, "unsubscribe", subscriber_id))

    response = client.post(link_path(app, "unsubscribe", subscriber_id))

    assert response.status_code == 200
    assert status_of(app) is SubscriberStatus.UNSUBSCRIBED


def test_unsubscribe_page_when_already_unsubscribed(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    client.post(link_path(app, "unsubscribe", subscriber_id))

    body = client.get(link_path(app, "unsubscribe", subscriber_id)).get_data(as_text=True)

    assert f"{ADDRESS} is already unsubscribed" in body
    assert "<button" not in body


def test_unsubscribe_deleted_subscriber_not_found(client, app):
    subscriber_id = add_active_subscriber(app, ADDRESS, TOPICS)
    with services(app).db.session() as session:
        session.delete(session.get(Subscriber, subscriber_id))

    get_response = client.get(link_path(app, "unsubscribe", subscriber_id))
    post_response = client.post(link_path(app, "unsubscribe", subscriber_id))

    assert get_response.status_code == 404
    assert post_response.status_code == 404


def test_unknown_path_shows_not_found(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert "No page exists at this address" in alert_text(response)


@pytest.mark.parametrize("url", ["/", "/check-your-inbox", "/no-such-page"])
def test_pages_send_security_headers(client, url):
    response = client.get(url)

    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_healthz_reports_ok(client):
    response = client.get("/healthz")

    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("value", [10**30, -1, True, "1"])
def test_signed_out_of_range_id(client, app, value):
    token = URLSafeTimedSerializer("test-secret-key", salt="digest-manage").dumps(value)

    response = client.get(f"/manage/{token}")

    assert response.status_code == 400

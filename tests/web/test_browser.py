"""End-to-end tests in headless Chromium against a live server: sign up, confirm, digest, unsubscribe.

Set DIGEST_SCREENSHOT_DIR to a folder to also save a PNG of each page these tests visit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digest.models import SubscriberStatus
from digest.topics import TopicKind, TopicSpec
from tests.conftest import read_outbox
from tests.web.conftest import (
    add_active_subscriber,
    deliveries_of,
    email_link,
    emails_to,
    find_subscriber,
    link_path,
    run_night,
)

pytestmark = pytest.mark.browser

ADDRESS = "ada@example.org"
OTHER_ADDRESS = "grace@example.org"


def save_screenshot(page, name: str) -> None:
    """Save a full-page PNG when DIGEST_SCREENSHOT_DIR is set, to look at the pages by eye."""
    folder = os.environ.get("DIGEST_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def heading(page) -> str:
    return page.locator("h1").inner_text()


def listed_topics(page) -> list[str]:
    return page.locator("ul.topics li").all_inner_texts()


def test_browser_full_subscription_flow(page, live_server):
    app = live_server.app
    # A second subscriber who follows one of the same keywords shows that the 2025-04-11 night does send digests.
    add_active_subscriber(app, OTHER_ADDRESS, [TopicSpec(TopicKind.KEYWORD, "diffusion models")])

    page.goto(f"{live_server.url}/")
    save_screenshot(page, "signup")
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_label("Keywords and phrases").fill("diffusion models\ngraph neural networks")
    page.get_by_label("Authors").fill("Yu Qiao")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{live_server.url}/check-your-inbox")
    save_screenshot(page, "check_inbox")

    assert heading(page) == "Check your inbox"
    confirmations = emails_to(app, "confirm", ADDRESS)
    assert len(confirmations) == 1
    confirm_url = email_link(confirmations[0], "confirm")
    assert confirm_url.startswith(f"{live_server.url}/confirm/")

    page.goto(confirm_url)
    save_screenshot(page, "confirmed")

    expected_topics = ["Keyword: diffusion models", "Keyword: graph neural networks", "Author: Yu Qiao"]
    assert heading(page) == "Subscription confirmed"
    assert listed_topics(page) == expected_topics
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.ACTIVE

    page.get_by_role("link", name="Manage your subscription").click()
    page.wait_for_url(f"{live_server.url}/manage/**")
    save_screenshot(page, "manage")

    assert heading(page) == "Your subscription"
    assert listed_topics(page) == expected_topics

    run_night(app, "2025-04-10")

    digests = emails_to(app, "digest", ADDRESS)
    assert len(digests) == 1
    unsubscribe_url = email_link(digests[0], "unsubscribe")
    assert unsubscribe_url.startswith(f"{live_server.url}/unsubscribe/")
    # Python's email package folds this long header onto a second line, so it parses with a leading space.
    assert digests[0]["List-Unsubscribe"].strip() == f"<{unsubscribe_url}>"
    assert digests[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email_link(digests[0], "manage").startswith(f"{live_server.url}/manage/")

    page.goto(unsubscribe_url)
    save_screenshot(page, "unsubscribe")

    assert heading(page) == "Unsubscribe"
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.ACTIVE

    with page.expect_navigation():
        page.get_by_role("button", name="Unsubscribe").click()
    save_screenshot(page, "unsubscribed")

    assert heading(page) == "You are unsubscribed"
    assert find_subscriber(app, ADDRESS).status is SubscriberStatus.UNSUBSCRIBED

    run_night(app, "2025-04-11")

    subscriber_id = find_subscriber(app, ADDRESS).id
    digest_dates = [delivery.digest_date.isoformat() for delivery in deliveries_of(app, subscriber_id)]
    assert len(emails_to(app, "digest", ADDRESS)) == 1
    assert digest_dates == ["2025-04-10"]
    assert len(emails_to(app, "digest", OTHER_ADDRESS)) == 2


def test_browser_signup_error_is_announced(page, live_server):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_label("Keywords and phrases").fill("protein folding")
    page.get_by_label("arXiv categories").fill("cs.LG biology")
    with page.expect_navigation():
        page.get_by_role("button", name="Subscribe").click()
    save_screenshot(page, "signup_error")

    categories = page.get_by_label("arXiv categories")
    alert = page.get_by_role("alert").inner_text()
    assert "The arXiv category 'biology' is not valid" in alert
    assert "such as 'cs.CL' or 'math.AG'" in alert
    assert categories.get_attribute("aria-invalid") == "true"
    assert categories.input_value() == "cs.LG biology"
    assert page.get_by_label("Email address").input_value() == ADDRESS
    assert page.get_by_label("Keywords and phrases").input_value() == "protein folding"
    assert find_subscriber(live_server.app, ADDRESS) is None


def test_browser_expired_form_can_be_resent(page, live_server):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_label("Keywords and phrases").fill("protein folding")
    # Losing the session cookie makes the form's CSRF token invalid, as when it expires.
    page.context.clear_cookies()
    with page.expect_navigation():
        page.get_by_role("button", name="Subscribe").click()

    assert "The form expired or was sent from another site" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Email address").input_value() == ADDRESS
    assert read_outbox(live_server.app) == []

    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(f"{live_server.url}/check-your-inbox")

    assert find_subscriber(live_server.app, ADDRESS).status is SubscriberStatus.PENDING


def test_browser_manage_saves_topics(page, live_server):
    app = live_server.app
    subscriber_id = add_active_subscriber(app, ADDRESS, [TopicSpec(TopicKind.KEYWORD, "protein folding")])

    page.goto(f"{live_server.url}{link_path(app, 'manage', subscriber_id)}")
    keywords = page.get_by_label("Keywords and phrases")
    assert keywords.input_value() == "protein folding"

    keywords.fill("protein folding\nstring theory")
    page.get_by_label("arXiv categories").fill("hep-th")
    page.get_by_role("button", name="Save topics").click()
    page.wait_for_url("**?saved=1")
    save_screenshot(page, "manage_saved")

    assert page.get_by_role("status").inner_text() == "Your topics were saved. The next digest uses them."
    assert listed_topics(page) == ["Keyword: protein folding", "Keyword: string theory", "arXiv category: hep-th"]

"""Fixtures of the web page tests: a live server on 127.0.0.1, a headless Chromium, and helpers.

The browser is Debian's chromium at /usr/bin/chromium (override with
DIGEST_TEST_CHROMIUM), driven by Playwright's sync API; Playwright's own browser
downloads are not used. When it is missing, browser tests are skipped with a
message naming it, except under CI=true, where they fail.
"""

from __future__ import annotations

import html
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

from digest import create_app, services
from digest.models import Delivery, Subscriber
from digest.sources.store import fetch_and_store
from digest.subscriptions import add_subscriber, request_subscription
from digest.topics import TopicSpec
from tests.conftest import MAIN_FEED, read_outbox
from workers import init_celery
from workers.tasks import plan_digests_task

CHROMIUM = Path(os.environ.get("DIGEST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
_HREF = re.compile(r'href="([^"]+)"')
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass
class LiveServer:
    """A test app served over HTTP on 127.0.0.1, with the base URL its emails link to."""

    app: Flask
    url: str


@pytest.fixture
def make_app(settings_env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build a migrated app from ``settings_env`` updated with extra DIGEST_* variables.

    For tests that need settings the shared ``app`` fixture does not set; the
    database is the same SQLite file or PostgreSQL database as ``app``'s.
    """
    apps: list[Flask] = []

    def build(**overrides: str) -> Flask:
        settings_env.update(overrides)
        app = create_app(settings_env, config={"TESTING": True})
        services(app).db.upgrade()
        apps.append(app)
        return app

    yield build
    for app in apps:
        services(app).db.dispose()


@pytest.fixture
def live_server(make_app: Callable[..., Flask]) -> Iterator[LiveServer]:
    """Serve a migrated app on a free 127.0.0.1 port, with DIGEST_BASE_URL pointing at it."""
    # The socket is bound before the app exists, so the port is known for the
    # base URL and no other process can take it in between.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        app = make_app(DIGEST_BASE_URL=url)
        # make_server duplicates the listening socket, so this copy is closed on leaving the block.
        server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True, fd=listener.fileno())

    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but not listening, so connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium for the whole session, or a skip (a failure under CI=true) when it is missing."""
    if not CHROMIUM.exists():
        message = (
            f"Chromium is missing at {CHROMIUM}: install it with 'apt-get install chromium', "
            "or set DIGEST_TEST_CHROMIUM to a Chromium binary, to run browser tests."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " Under CI=true this is a failure, not a skip.")
        pytest.skip(message)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context, so no cookie is shared between tests."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


class PageParser(HTMLParser):
    """Collect what the page tests check: form fields, labels, alerts and the lang attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.fields: dict[str, dict[str, str | None]] = {}
        self.values: dict[str, str] = {}
        self.label_targets: list[str] = []
        self.alerts: list[str] = []
        self._textarea: str | None = None
        self._alert_depth = 0
        self._alert_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        if tag == "label" and attributes.get("for"):
            self.label_targets.append(attributes["for"])
        if tag in ("input", "textarea") and attributes.get("name"):
            self.fields[attributes["name"]] = attributes
            if tag == "input":
                self.values[attributes["name"]] = attributes.get("value") or ""
            else:
                self._textarea = attributes["name"]
                self.values[self._textarea] = ""
        if tag in _VOID_TAGS:
            return
        if self._alert_depth:
            self._alert_depth += 1
        elif attributes.get("role") == "alert":
            self._alert_depth = 1
            self._alert_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        if self._alert_depth and tag not in _VOID_TAGS:
            self._alert_depth -= 1
            if not self._alert_depth:
                self.alerts.append(" ".join("".join(self._alert_text).split()))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.values[self._textarea] += data.strip("\r\n")
        if self._alert_depth:
            self._alert_text.append(data)


def parse_page(page_html: str) -> PageParser:
    parser = PageParser()
    parser.feed(page_html)
    parser.close()
    return parser


def csrf_token(page_html: str) -> str:
    """Return the CSRF token of the form in ``page_html``."""
    match = _CSRF_INPUT.search(page_html)
    assert match is not None, "the page has no csrf_token input"
    return html.unescape(match.group(1))


def post_signup(client: FlaskClient, **fields: str) -> TestResponse:
    """Open the sign-up page like a browser, then send its form with ``fields`` and the page's CSRF token."""
    token = csrf_token(client.get("/").get_data(as_text=True))
    return client.post("/", data={"csrf_token": token, **fields})


def email_links(message: EmailMessage, path_prefix: str) -> list[str]:
    """Return the links of the message's HTML part whose path starts with ``path_prefix``."""
    body = message.get_body(preferencelist=("html",)).get_content()
    links = [html.unescape(href) for href in _HREF.findall(body)]
    return [link for link in links if f"/{path_prefix}/" in link]


def email_link(message: EmailMessage, path_prefix: str) -> str:
    """Return the one distinct link of the message whose path starts with ``path_prefix``."""
    links = list(dict.fromkeys(email_links(message, path_prefix)))
    assert len(links) == 1, f"expected one /{path_prefix}/ link, found {links}"
    return links[0]


def emails_to(app: Flask, kind: str, address: str) -> list[EmailMessage]:
    """Return the outbox messages of one kind sent to ``address``."""
    return [message for message in read_outbox(app, kind) if message["To"] == address]


def find_subscriber(app: Flask, address: str) -> Subscriber | None:
    """Load a subscriber and its topics by address, or None."""
    with services(app).db.session() as session:
        return session.scalar(
            select(Subscriber).where(Subscriber.email == address).options(selectinload(Subscriber.topics))
        )


def add_pending_subscriber(app: Flask, address: str, topics: list[TopicSpec]) -> int:
    """Record a sign-up as the web form does, without sending its email; return the subscriber id."""
    with services(app).db.session() as session:
        subscriber, _ = request_subscription(session, address, topics)
        return subscriber.id


def add_active_subscriber(app: Flask, address: str, topics: list[TopicSpec]) -> int:
    """Add a confirmed subscriber as the command line does; return the subscriber id."""
    with services(app).db.session() as session:
        return add_subscriber(session, address, topics).id


def link_path(app: Flask, purpose: str, subscriber_id: int) -> str:
    """Return the path of a freshly signed confirm, manage or unsubscribe link."""
    return f"/{purpose}/{services(app).links.token(purpose, subscriber_id)}"


def alert_text(response: TestResponse) -> str:
    """Return the text of every role=alert element of a response, joined by spaces."""
    return " ".join(parse_page(response.get_data(as_text=True)).alerts)


def count_rows(app: Flask, model: type) -> int:
    with services(app).db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def deliveries_of(app: Flask, subscriber_id: int) -> list[Delivery]:
    with services(app).db.session() as session:
        return list(session.scalars(select(Delivery).where(Delivery.subscriber_id == subscriber_id)))


def run_night(app: Flask, digest_date: str) -> None:
    """Store the sample feed of ``digest_date`` (YYYY-MM-DD), then plan and send that night's digests.

    No broker is configured in tests, so the send tasks run eagerly inside this call.
    """
    fetch_and_store(services(app).db, str(MAIN_FEED / f"{digest_date}.xml"))
    init_celery(app)
    with app.app_context():
        plan_digests_task(digest_date)

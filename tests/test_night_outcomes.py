"""What `digest fetch` and `digest run-night` report and exit with when feeds or deliveries fail, and how a rerun recovers.

Every test runs the real command without a broker, against files, the feed
server, the fake SendGrid server or the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select

from digest.cli import main
from digest.models import Delivery, DeliveryStatus, Subscriber
from tests.conftest import AUDIO_FEED, MAIN_FEED
from tests.servers.fake_sendgrid import FakeSendGrid
from tests.servers.feed_server import FeedServer, feed_server  # noqa: F401 (a fixture)

DAY = "2025-04-11"
SENDGRID_API_KEY = "SG.the-key-sendgrid-accepts"
Invoke = Callable[..., Result]


def make_invoke(env: dict[str, str]) -> Invoke:
    runner = CliRunner(env=env)

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def statuses(env: dict[str, str]) -> dict[str, DeliveryStatus]:
    """Return each subscriber's delivery status by address, read straight from the database."""
    engine = create_engine(env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(select(Subscriber.email, Delivery.status).join(Delivery.subscriber)).all()
    engine.dispose()
    return {address: status for address, status in rows}


def outbox_digests(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["DIGEST_OUTBOX_DIR"]).glob("*-digest-*.eml"))


def add_subscribers(invoke: Invoke) -> None:
    """Add Ada, whose keyword matches papers of the main feed, and Tess, whose keyword matches only the audio feed."""
    assert invoke("add-subscriber", "ada@example.org", "-k", "diffusion models").exit_code == 0
    assert invoke("add-subscriber", "tess@example.org", "-k", "text-to-speech").exit_code == 0


@pytest.fixture
def cli(settings_env: dict[str, str]) -> Invoke:
    invoke = make_invoke(settings_env)
    assert invoke("init-db").exit_code == 0
    return invoke


@pytest.fixture
def sendgrid(settings_env: dict[str, str]) -> Iterator[tuple[Invoke, FakeSendGrid]]:
    """The command line sending through the fake SendGrid server, with both sample feeds of DAY stored."""
    with FakeSendGrid(SENDGRID_API_KEY) as server:
        settings_env.update({
            "DIGEST_MAIL_BACKEND": "sendgrid",
            "DIGEST_SENDGRID_API_KEY": SENDGRID_API_KEY,
            "DIGEST_SENDGRID_HOST": server.url,
        })
        invoke = make_invoke(settings_env)
        assert invoke("init-db").exit_code == 0
        assert invoke("fetch", str(MAIN_FEED / f"{DAY}.xml"), str(AUDIO_FEED / f"{DAY}.xml")).exit_code == 0
        add_subscribers(invoke)
        yield invoke, server


# digest fetch


def test_fetch_continues_after_failure(cli, tmp_path: Path):
    result = cli("fetch", str(tmp_path / "missing.xml"), str(MAIN_FEED / "2025-04-10.xml"))

    assert result.exit_code == 1
    assert "419 new, 0 updated, 0 already stored" in result.output
    assert result.output.count("missing.xml' does not exist: give an existing file or an http(s) URL") == 1
    assert "1 of 2 feeds failed, so their papers were not stored" in result.output


def test_fetch_every_feed_failing(cli, tmp_path: Path):
    result = cli("fetch", str(tmp_path / "one.xml"), str(tmp_path / "two.xml"))

    assert result.exit_code == 1
    assert "one.xml' does not exist" in result.output
    assert "two.xml' does not exist" in result.output
    assert "2 of 2 feeds failed" in result.output


# Empty digests re-checked


def test_night_before_feed_then_after(cli, settings_env: dict[str, str]):
    assert cli("fetch", str(MAIN_FEED / "2025-04-10.xml")).exit_code == 0
    assert cli("add-subscriber", "ada@example.org", "-k", "diffusion models").exit_code == 0
    early = cli("run-night", "--date", DAY)
    status_before_feed = statuses(settings_env)["ada@example.org"]

    assert cli("fetch", str(MAIN_FEED / f"{DAY}.xml")).exit_code == 0
    late = cli("run-night", "--date", DAY)

    assert early.exit_code == 0
    assert status_before_feed is DeliveryStatus.EMPTY
    assert late.exit_code == 0
    assert statuses(settings_env)["ada@example.org"] is DeliveryStatus.SENT
    assert len(outbox_digests(settings_env)) == 1


def test_night_after_failed_feed(cli, settings_env: dict[str, str], feed_server: FeedServer):
    main_url = feed_server.serve_file("rss/main", MAIN_FEED / f"{DAY}.xml")
    audio_url = feed_server.fail("rss/audio", 503)
    env = {**settings_env, "DIGEST_FEEDS": f"{main_url} {audio_url}"}
    invoke = make_invoke(env)
    add_subscribers(invoke)

    first = invoke("run-night")
    after_first = statuses(env)
    feed_server.serve_file("rss/audio", AUDIO_FEED / f"{DAY}.xml")
    second = invoke("run-night")

    assert first.exit_code == 1
    assert f"Fetching feed '{audio_url}' failed with HTTP 503" in first.output
    assert "1 of 2 feeds in DIGEST_FEEDS failed to fetch" in first.output
    assert f"run `digest run-night --date {DAY}` again" in first.output
    assert "Digests for 2025-04-11:" in first.output
    assert after_first == {"ada@example.org": DeliveryStatus.SENT, "tess@example.org": DeliveryStatus.EMPTY}
    assert second.exit_code == 0
    assert set(statuses(env).values()) == {DeliveryStatus.SENT}
    assert len(outbox_digests(env)) == 2


# Digests not sent


def test_rejected_digest_exits_one(sendgrid):
    invoke, server = sendgrid
    server.fail_next(400, message="The to address is on a suppression list.")

    result = invoke("run-night", "--date", DAY)

    assert result.exit_code == 1
    assert "The to address is on a suppression list." in result.output
    assert "1 of 2 digests were not sent: see the errors above" in result.output
    assert "add --retry-failed to send the failed ones again" in result.output
    assert result.output.rstrip("\n").splitlines()[-1].startswith("Error: 1 of 2 digests were not sent")


def test_retry_failed_sends_rejected_digest(sendgrid, settings_env: dict[str, str]):
    invoke, server = sendgrid
    server.fail_next(400, message="The to address is on a suppression list.")
    invoke("run-night", "--date", DAY)

    plain_rerun = invoke("run-night", "--date", DAY)
    retried = invoke("run-night", "--date", DAY, "--retry-failed")

    assert plain_rerun.exit_code == 1
    assert retried.exit_code == 0
    assert sorted(server.recipients()) == ["ada@example.org", "tess@example.org"]
    assert set(statuses(settings_env).values()) == {DeliveryStatus.SENT}


def test_wrong_api_key_exits_one(sendgrid, settings_env: dict[str, str]):
    invoke, server = sendgrid
    server.api_key = "SG.a-key-the-app-does-not-have"

    result = invoke("run-night", "--date", DAY)

    assert result.exit_code == 1
    assert "DIGEST_SENDGRID_API_KEY" in result.output
    assert "2 of 2 digests were not sent" in result.output
    assert "retry the pending ones" in result.output
    assert "--retry-failed" not in result.output
    assert set(statuses(settings_env).values()) == {DeliveryStatus.PENDING}


def test_unwritable_outbox_exits_one(cli, settings_env: dict[str, str], tmp_path: Path):
    blocker = tmp_path / "regular-file"
    blocker.write_text("not a folder", encoding="utf-8")
    assert cli("fetch", str(MAIN_FEED / f"{DAY}.xml"), str(AUDIO_FEED / f"{DAY}.xml")).exit_code == 0
    add_subscribers(cli)
    broken_env = {**settings_env, "DIGEST_OUTBOX_DIR": str(blocker / "outbox")}

    broken = make_invoke(broken_env)("run-night", "--date", DAY)
    fixed = cli("run-night", "--date", DAY)

    assert broken.exit_code == 1
    assert "check that DIGEST_OUTBOX_DIR names a writable folder" in broken.output
    assert "2 of 2 digests were not sent" in broken.output
    assert fixed.exit_code == 0
    assert len(outbox_digests(settings_env)) == 2

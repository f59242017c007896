"""Celery tasks of the nightly job: fetch the feeds, plan the digests, send each one.

Tasks take ids and dates, re-read the database, and are safe to run twice.
"""

from __future__ import annotations

import datetime as dt
from typing import TypedDict

from celery import shared_task
from celery.utils.log import get_task_logger

from digest import services
from digest.digests import deliver_digest, latest_announcement_date, mark_failed, plan_digests
from digest.errors import MailConfigError, PermanentDeliveryError, TransientDeliveryError
from digest.models import DeliveryStatus
from digest.sources.store import fetch_all

log = get_task_logger(__name__)

SEND_MAX_RETRIES = 5


class FetchReport(TypedDict):
    """The outcome of fetch_feeds, in JSON types so that Celery can serialize it."""

    #: The number of new papers stored from each feed that was read.
    added: dict[str, int]
    #: The FeedError message of each feed that could not be read or parsed.
    failed: dict[str, str]


@shared_task(name="workers.tasks.fetch_feeds")
def fetch_feeds(locations: list[str] | None = None) -> FetchReport:
    """Fetch every feed (DIGEST_FEEDS by default) and store new papers; a broken feed does not stop the others."""
    app_services = services()
    locations = list(locations or app_services.settings.feeds)
    report: FetchReport = {"added": {}, "failed": {}}
    if not locations:
        log.warning("No feeds to fetch: set DIGEST_FEEDS to one or more arXiv RSS URLs")
        return report

    outcome = fetch_all(app_services.db, locations)
    report["added"] = {location: result.added for location, result in outcome.stored.items()}
    report["failed"] = outcome.failed
    return report


@shared_task(name="workers.tasks.plan_digests")
def plan_digests_task(digest_date: str | None = None, retry_failed: bool = False) -> int:
    """Create the night's deliveries and queue one send task per waiting delivery.

    Returns the number of waiting deliveries. With ``retry_failed`` the date's
    failed deliveries are sent again too. Without a broker the send tasks run
    here, one after another, and the first MailConfigError stops them, because
    every later message would fail the same way.
    """
    app_services = services()
    with app_services.db.session() as session:
        day = dt.date.fromisoformat(digest_date) if digest_date else latest_announcement_date(session)
        if day is None:
            log.warning("No papers are stored yet: fetch feeds before planning digests")
            return 0
        delivery_ids = plan_digests(session, day, retry_failed=retry_failed)

    # Queued only after the rows are committed, so a worker always finds them.
    for position, delivery_id in enumerate(delivery_ids):
        try:
            send_digest.delay(delivery_id)
        except MailConfigError as exc:
            # Only an eager send task raises this: a worker retries the task instead.
            log.error(
                "Stopped sending the digests of %s at delivery %d because the mail settings are wrong, "
                "so %d of %d digests were not tried and stay pending: %s",
                day, delivery_id, len(delivery_ids) - position - 1, len(delivery_ids), exc,
            )
            return len(delivery_ids)
    log.info("Queued %d digests for %s", len(delivery_ids), day)
    return len(delivery_ids)


@shared_task(bind=True, name="workers.tasks.send_digest", max_retries=SEND_MAX_RETRIES)
def send_digest(self, delivery_id: int) -> str:
    """Send one delivery, retrying transient mail failures with exponential backoff.

    Returns the delivery's status. Delivery errors are recorded on the row and
    not re-raised, so one bad address never stops a night run without a broker.
    MailConfigError is the exception: without a broker it is re-raised so that
    plan_digests_task stops sending. It never marks the delivery failed, even
    after the last retry, so a later run sends it once the setting is fixed.
    """
    app_services = services()
    try:
        return deliver_digest(app_services, delivery_id).value
    except PermanentDeliveryError:
        return DeliveryStatus.FAILED.value
    except TransientDeliveryError as exc:
        config_error = isinstance(exc, MailConfigError)
        if self.request.is_eager:
            if config_error:
                raise
            log.warning("Delivery %d left pending: run the night again to retry it", delivery_id)
            return DeliveryStatus.PENDING.value
        if self.request.retries >= self.max_retries:
            if config_error:
                log.error(
                    "Delivery %d left pending after %d retries because the mail settings are wrong (%s): "
                    "fix them and run `digest run-night --date YYYY-MM-DD` for its date",
                    delivery_id, self.max_retries, exc,
                )
                return DeliveryStatus.PENDING.value
            mark_failed(app_services, delivery_id, f"Gave up after {self.max_retries} retries: {exc}")
            return DeliveryStatus.FAILED.value
        raise self.retry(exc=exc, countdown=60 * 2 ** self.request.retries)


@shared_task(name="workers.tasks.run_nightly")
def run_nightly(digest_date: str | None = None, retry_failed: bool = False) -> int:
    """Fetch the configured feeds, then plan and queue the night's digests."""
    fetch_feeds()
    return plan_digests_task(digest_date, retry_failed)

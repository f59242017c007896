"""Celery tasks of the nightly job: fetch the feeds, plan the digests, send each one.

Tasks take ids and dates, re-read the database, and are safe to run twice.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from celery.utils.log import get_task_logger

from digest import services
from digest.digests import deliver_digest, latest_announcement_date, mark_failed, plan_digests
from digest.errors import FeedError, PermanentDeliveryError, TransientDeliveryError
from digest.models import DeliveryStatus
from digest.sources.store import fetch_and_store

log = get_task_logger(__name__)

SEND_MAX_RETRIES = 5


@shared_task(name="workers.tasks.fetch_feeds")
def fetch_feeds(locations: list[str] | None = None) -> dict[str, int]:
    """Fetch every feed (DIGEST_FEEDS by default) and store new papers; a broken feed does not stop the others."""
    app_services = services()
    locations = list(locations or app_services.settings.feeds)
    if not locations:
        log.warning("No feeds to fetch: set DIGEST_FEEDS to one or more arXiv RSS URLs")
        return {}

    added: dict[str, int] = {}
    for location in locations:
        try:
            added[location] = fetch_and_store(app_services.db, location).added
        except FeedError as exc:
            log.error("Fetching %s failed: %s", location, exc)
    return added


@shared_task(name="workers.tasks.plan_digests")
def plan_digests_task(digest_date: str | None = None) -> int:
    """Create the night's deliveries and queue one send task per waiting delivery."""
    app_services = services()
    with app_services.db.session() as session:
        day = dt.date.fromisoformat(digest_date) if digest_date else latest_announcement_date(session)
        if day is None:
            log.warning("No papers are stored yet: fetch feeds before planning digests")
            return 0
        delivery_ids = plan_digests(session, day)

    # Queued only after the rows are committed, so a worker always finds them.
    for delivery_id in delivery_ids:
        send_digest.delay(delivery_id)
    log.info("Queued %d digests for %s", len(delivery_ids), day)
    return len(delivery_ids)


@shared_task(bind=True, name="workers.tasks.send_digest", max_retries=SEND_MAX_RETRIES)
def send_digest(self, delivery_id: int) -> str:
    """Send one delivery, retrying transient mail failures with exponential backoff.

    Returns the delivery's status. Delivery errors are recorded on the row and
    not re-raised, so one bad address never stops a night run without a broker.
    """
    app_services = services()
    try:
        return deliver_digest(app_services, delivery_id).value
    except PermanentDeliveryError:
        return DeliveryStatus.FAILED.value
    except TransientDeliveryError as exc:
        if self.request.is_eager:
            log.warning("Delivery %d left pending: run the night again to retry it", delivery_id)
            return DeliveryStatus.PENDING.value
        if self.request.retries >= self.max_retries:
            mark_failed(app_services, delivery_id, f"Gave up after {self.max_retries} retries: {exc}")
            return DeliveryStatus.FAILED.value
        raise self.retry(exc=exc, countdown=60 * 2 ** self.request.retries)


@shared_task(name="workers.tasks.run_nightly")
def run_nightly(digest_date: str | None = None) -> int:
    """Fetch the configured feeds, then plan and queue the night's digests."""
    fetch_feeds()
    return plan_digests_task(digest_date)

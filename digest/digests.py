"""Plan a night's digests and deliver one subscriber's digest.

A Delivery row exists once per subscriber and digest date, so planning the
same night twice, or a task delivered twice by the broker, sends one email.
Planning a date again re-checks its ``empty`` deliveries, because a feed
fetched late may have brought papers that match.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from digest import Services
from digest.db import Database
from digest.errors import DeliveryError, MailConfigError, TransientDeliveryError
from digest.mail import OutgoingEmail
from digest.matching import Match, PaperIndex, match_papers
from digest.models import Delivery, DeliveryStatus, Paper, Subscriber, SubscriberStatus
from digest.render import Renderer
from digest.sources import NEW_ANNOUNCE_TYPES

log = logging.getLogger(__name__)


def latest_announcement_date(session: Session) -> dt.date | None:
    """Return the most recent date on which a stored paper was announced as new."""
    return session.scalar(
        select(func.max(Paper.announced_on)).where(Paper.announce_type.in_(NEW_ANNOUNCE_TYPES))
    )


def papers_announced_on(session: Session, digest_date: dt.date) -> list[Paper]:
    """Return the new and cross-listed papers of one announcement date; replacements are left out."""
    return list(session.scalars(
        select(Paper)
        .where(Paper.announced_on == digest_date, Paper.announce_type.in_(NEW_ANNOUNCE_TYPES))
        .order_by(Paper.arxiv_id)
    ))


def plan_digests(session: Session, digest_date: dt.date, *, retry_failed: bool = False) -> list[int]:
    """Create the missing Delivery rows of ``digest_date`` and return the ids still waiting to be sent.

    The date's ``empty`` deliveries go back to ``pending`` to be matched again,
    because papers of that date may have been stored since. No email was sent
    for them, so this never sends a subscriber a second digest. With
    ``retry_failed`` the ``failed`` deliveries go back to ``pending`` too.
    """
    active_ids = session.scalars(select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE)).all()
    rows = [{"subscriber_id": subscriber_id, "digest_date": digest_date} for subscriber_id in active_ids]
    if rows:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(Delivery).on_conflict_do_nothing(index_elements=["subscriber_id", "digest_date"]), rows
        )

    rechecked = _reset_to_pending(session, digest_date, DeliveryStatus.EMPTY)
    retried = _reset_to_pending(session, digest_date, DeliveryStatus.FAILED) if retry_failed else 0
    pending = session.scalars(
        select(Delivery.id)
        .where(Delivery.digest_date == digest_date, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.id)
    ).all()
    log.info(
        "Planned %s: %d active subscribers, %d digests waiting (%d empty ones to re-check, %d failed ones to retry)",
        digest_date, len(active_ids), len(pending), rechecked, retried,
    )
    return list(pending)


def _reset_to_pending(session: Session, digest_date: dt.date, status: DeliveryStatus) -> int:
    """Move the deliveries of ``digest_date`` that have ``status`` back to ``pending`` and count them."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.digest_date == digest_date, Delivery.status == status)
        .values(status=DeliveryStatus.PENDING)
    )
    return cast(CursorResult, result).rowcount


@dataclass
class _Night:
    key: tuple
    index: PaperIndex
    renderer: Renderer


class NightCache:
    """Keep one night's paper index and rendered paper blocks for every digest of that night.

    The cache is rebuilt when the date or the set of stored papers changes.
    """

    def __init__(self) -> None:
        self._night: _Night | None = None

    def get(self, db: Database, digest_date: dt.date, site_name: str) -> _Night:
        with db.session() as session:
            count, newest, latest_fetch = session.execute(
                select(func.count(Paper.id), func.max(Paper.id), func.max(Paper.fetched_at))
                .where(Paper.announced_on == digest_date, Paper.announce_type.in_(NEW_ANNOUNCE_TYPES))
            ).one()
            key = (db.url, digest_date, count, newest, latest_fetch, site_name)
            # Read the attribute once, because in a threaded worker another thread
            # may replace it with another date's night before this call returns.
            night = self._night
            if night is None or night.key != key:
                # The session keeps no reference after it closes, and expire_on_commit is off,
                # so the papers stay readable for as long as the cache holds them.
                papers = papers_announced_on(session, digest_date)
                night = _Night(key, PaperIndex(papers), Renderer(site_name))
                self._night = night
                log.info("Indexed %d papers announced on %s", len(papers), digest_date)
        return night


_night_cache = NightCache()


def select_papers(services: Services, subscriber: Subscriber, digest_date: dt.date) -> tuple[list[Match], Renderer]:
    """Match a subscriber's topics against the night's papers, best first."""
    night = _night_cache.get(services.db, digest_date, services.settings.site_name)
    limit = subscriber.max_papers or services.settings.max_papers
    return match_papers(night.index, [topic.spec for topic in subscriber.topics], limit=limit), night.renderer


def build_digest_email(services: Services, subscriber: Subscriber, digest_date: dt.date,
                       matches: list[Match], renderer: Renderer) -> OutgoingEmail:
    """Render one digest with its manage and one-click unsubscribe links."""
    unsubscribe_url = services.links.url("unsubscribe", subscriber.id)
    rendered = renderer.render_digest(
        digest_date=digest_date,
        matches=matches,
        manage_url=services.links.url("manage", subscriber.id),
        unsubscribe_url=unsubscribe_url,
    )
    return OutgoingEmail(
        sender=services.settings.mail_from,
        recipient=subscriber.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        kind="digest",
    )


def deliver_digest(services: Services, delivery_id: int) -> DeliveryStatus:
    """Match, render and send one Delivery, recording the outcome on its row.

    Only a pending delivery is sent: it is first claimed by moving it to
    ``sending`` in its own transaction, so two workers never send it twice.
    A transient failure, MailConfigError included, puts it back to ``pending``
    and re-raises, so the caller can retry. Any other delivery error marks it
    ``failed``.
    """
    with services.db.session() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1)
        )
        claimed = cast(CursorResult, result).rowcount
    # NOTE: a worker that dies between this claim and the send leaves the row in
    # "sending" for good. Nothing resends it, so such a digest is lost but never doubled.
    if not claimed:
        status = _status(services, delivery_id)
        if status is None:
            log.warning("Delivery %d skipped: it no longer exists", delivery_id)
            return DeliveryStatus.SKIPPED
        log.info("Delivery %d skipped: it is %s (already sent, or taken by another worker)", delivery_id, status.value)
        return status

    try:
        return _send_claimed(services, delivery_id)
    except DeliveryError:
        raise
    except Exception as exc:
        # Without this the row would stay "sending" and never be tried again.
        _record(services, delivery_id, DeliveryStatus.FAILED, error=f"Unexpected error: {exc!r}")
        raise


def _send_claimed(services: Services, delivery_id: int) -> DeliveryStatus:
    with services.db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            # Deleting a subscriber deletes its deliveries, so this one went after it was claimed.
            log.warning("Delivery %d skipped: it no longer exists", delivery_id)
            return DeliveryStatus.SKIPPED

        subscriber = session.scalars(
            select(Subscriber).where(Subscriber.id == delivery.subscriber_id).options(selectinload(Subscriber.topics))
        ).one()
        # An error left by an earlier attempt no longer applies to a delivery that ends skipped or empty.
        if subscriber.status is not SubscriberStatus.ACTIVE:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.error = None
            log.info("Delivery %d skipped: subscriber %d is %s", delivery_id, subscriber.id, subscriber.status.value)
            return delivery.status

        matches, renderer = select_papers(services, subscriber, delivery.digest_date)
        if not matches:
            delivery.status = DeliveryStatus.EMPTY
            delivery.error = None
            log.info("Delivery %d empty: no paper of %s matches subscriber %d", delivery_id, delivery.digest_date, subscriber.id)
            return delivery.status
        email = build_digest_email(services, subscriber, delivery.digest_date, matches, renderer)

    try:
        sent = services.mail.send(email)
    except DeliveryError as exc:
        transient = isinstance(exc, TransientDeliveryError)
        _record(services, delivery_id, DeliveryStatus.PENDING if transient else DeliveryStatus.FAILED, error=str(exc))
        if isinstance(exc, MailConfigError):
            outcome = "mail settings wrong, left pending"
        else:
            outcome = "will retry" if transient else "permanent"
        log.warning("Delivery %d failed (%s): %s", delivery_id, outcome, exc)
        raise

    _record(services, delivery_id, DeliveryStatus.SENT, message_id=sent.message_id, paper_count=len(matches))
    log.info("Delivery %d sent to subscriber %d with %d papers", delivery_id, subscriber.id, len(matches))
    return DeliveryStatus.SENT


def mark_failed(services: Services, delivery_id: int, error: str) -> None:
    """Give up on a delivery after its last retry."""
    _record(services, delivery_id, DeliveryStatus.FAILED, error=error)


def _record(services: Services, delivery_id: int, status: DeliveryStatus, **values) -> None:
    if status is DeliveryStatus.SENT:
        values["sent_at"] = dt.datetime.now(dt.timezone.utc)
        values["error"] = None
    with services.db.session() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(status=status, **values))


def _status(services: Services, delivery_id: int) -> DeliveryStatus | None:
    with services.db.session() as session:
        return session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))

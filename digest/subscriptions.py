"""Sign-up, confirmation and unsubscription: the life of a Subscriber."""

from __future__ import annotations

import datetime as dt
import enum
import logging

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import SubscriberError
from digest.links import Links
from digest.mail import MailBackend, OutgoingEmail
from digest.models import Subscriber, SubscriberStatus, Topic
from digest.render import Renderer
from digest.topics import TopicSpec, unique_topics

log = logging.getLogger(__name__)


class SignupOutcome(str, enum.Enum):
    CREATED = "created"
    PENDING_AGAIN = "pending_again"
    RESUBSCRIBING = "resubscribing"
    ALREADY_ACTIVE = "already_active"


def normalize_email(raw: str) -> str:
    """Check an address's syntax (no DNS look-up) and return it in lower case."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{raw.strip()!r} is not a valid email address: {exc}") from exc
    return result.normalized.lower()


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == normalize_email(email)))


def set_topics(subscriber: Subscriber, topics: list[TopicSpec]) -> None:
    """Replace the subscriber's topics, keeping the rows of topics that stay."""
    wanted = unique_topics(topics)
    kept = [topic for topic in subscriber.topics if topic.spec in wanted]
    kept_specs = {topic.spec for topic in kept}
    subscriber.topics = kept + [
        Topic(kind=spec.kind, value=spec.value) for spec in wanted if spec not in kept_specs
    ]


def request_subscription(session: Session, email: str, topics: list[TopicSpec]) -> tuple[Subscriber, SignupOutcome]:
    """Record a sign-up from the web form; the subscription starts when the address is confirmed.

    An active subscriber's topics are left alone, because the person who filled
    in the form has not shown that they own the address.
    """
    if not topics:
        raise SubscriberError("No topics were given: add at least one keyword, category or author.")
    address = normalize_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))

    if subscriber is None:
        subscriber = Subscriber(email=address, status=SubscriberStatus.PENDING)
        session.add(subscriber)
        outcome = SignupOutcome.CREATED
    elif subscriber.status is SubscriberStatus.ACTIVE:
        return subscriber, SignupOutcome.ALREADY_ACTIVE
    elif subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.PENDING
        outcome = SignupOutcome.RESUBSCRIBING
    else:
        outcome = SignupOutcome.PENDING_AGAIN

    set_topics(subscriber, topics)
    session.flush()
    log.info("Sign-up for subscriber %d: %s", subscriber.id, outcome.value)
    return subscriber, outcome


def send_signup_email(
    subscriber: Subscriber, outcome: SignupOutcome, *, links: Links, renderer: Renderer,
    backend: MailBackend, sender: str,
) -> None:
    """Send the confirmation email, or a reminder with the manage link to an active subscriber."""
    if outcome is SignupOutcome.ALREADY_ACTIVE:
        rendered = renderer.render_manage_reminder(
            manage_url=links.url("manage", subscriber.id),
            unsubscribe_url=links.url("unsubscribe", subscriber.id),
        )
        kind = "reminder"
    else:
        rendered = renderer.render_confirmation(
            confirm_url=links.url("confirm", subscriber.id), topics=[topic.spec for topic in subscriber.topics]
        )
        kind = "confirm"
    backend.send(OutgoingEmail(
        sender=sender, recipient=subscriber.email, subject=rendered.subject,
        text=rendered.text, html=rendered.html, kind=kind,
    ))


def confirm_subscription(session: Session, subscriber_id: int) -> Subscriber:
    """Activate a pending subscriber; confirming twice changes nothing."""
    subscriber = _get(session, subscriber_id)
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED:
        raise SubscriberError("This subscription was ended after the link was sent: sign up again to restart it.")
    if subscriber.status is SubscriberStatus.PENDING:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = _now()
        log.info("Subscriber %d confirmed", subscriber.id)
    return subscriber


def unsubscribe(session: Session, subscriber_id: int) -> Subscriber:
    """End a subscription; topics are kept so that re-subscribing can restore them."""
    subscriber = _get(session, subscriber_id)
    if subscriber.status is not SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = _now()
        log.info("Subscriber %d unsubscribed", subscriber.id)
    return subscriber


def add_subscriber(
    session: Session, email: str, topics: list[TopicSpec], *, max_papers: int | None = None, replace: bool = False
) -> Subscriber:
    """Add an active subscriber directly, as an operator does from the command line.

    An existing address is an error unless ``replace`` is set, in which case its
    topics are replaced and the subscription is made active again.
    """
    if not topics:
        raise SubscriberError(f"No topics were given for {email!r}: pass at least one --keyword, --category or --author.")
    address = normalize_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is not None and not replace:
        raise SubscriberError(f"{address!r} is already a subscriber: pass --replace to replace its topics.")
    if subscriber is None:
        subscriber = Subscriber(email=address)
        session.add(subscriber)
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = subscriber.confirmed_at or _now()
    subscriber.unsubscribed_at = None
    subscriber.max_papers = max_papers
    set_topics(subscriber, topics)
    session.flush()
    return subscriber


def _get(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberError("This subscription no longer exists: sign up again.")
    return subscriber


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

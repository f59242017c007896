"""Sign-up, confirmation and unsubscription: the life of a Subscriber."""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import logging
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import SubscriberError, TopicError
from digest.links import Links
from digest.mail import MailBackend, OutgoingEmail
from digest.models import Subscriber, SubscriberStatus, Topic
from digest.render import Renderer
from digest.topics import MAX_TOPICS, TopicKind, TopicSpec, parse_topic, unique_topics

log = logging.getLogger(__name__)

#: The bounds of a subscriber's own max_papers, the same as those of DIGEST_MAX_PAPERS.
MIN_MAX_PAPERS = 1
MAX_MAX_PAPERS = 200

#: The topic fields of an import file entry and the kind of topic each one holds.
IMPORT_TOPIC_FIELDS = {"keywords": TopicKind.KEYWORD, "categories": TopicKind.CATEGORY, "authors": TopicKind.AUTHOR}
IMPORT_FIELDS = ("email", *IMPORT_TOPIC_FIELDS, "max_papers")


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
    """Replace the subscriber's topics, keeping the rows of topics that stay.

    Raises SubscriberError, changing nothing, when more than MAX_TOPICS distinct topics are given.
    """
    requested = _unique_within_limit(topics)
    unchanged = [topic for topic in subscriber.topics if topic.spec in requested]
    unchanged_specs = {topic.spec for topic in unchanged}
    subscriber.topics = unchanged + [
        Topic(kind=spec.kind, value=spec.value) for spec in requested if spec not in unchanged_specs
    ]


def _unique_within_limit(topics: list[TopicSpec]) -> list[TopicSpec]:
    """Drop repeated topics, raising SubscriberError when more than MAX_TOPICS remain."""
    unique = unique_topics(topics)
    if len(unique) > MAX_TOPICS:
        raise SubscriberError(f"{len(unique)} topics were given: keep at most {MAX_TOPICS}.")
    return unique


def request_subscription(session: Session, email: str, topics: list[TopicSpec]) -> tuple[Subscriber, SignupOutcome]:
    """Record a sign-up from the web form; the subscription starts when the address is confirmed.

    An active subscriber's topics are left alone, because the person who filled
    in the form has not shown that they own the address.
    """
    if not topics:
        raise SubscriberError("No topics were given: add at least one keyword, category or author.")
    _unique_within_limit(topics)
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
    session: Session, email: str, topics: list[TopicSpec], *, max_papers: int | None = None, replace: bool = False,
    resubscribe: bool = False,
) -> Subscriber:
    """Add an active subscriber directly, as an operator does from the command line.

    An existing address is an error unless ``replace`` is set, in which case its
    topics are replaced and the subscription is made active again. An address
    that unsubscribed is an error unless ``resubscribe`` is set too, so that an
    operator cannot undo someone's opt-out by accident.
    """
    if not topics:
        raise SubscriberError(f"No topics were given for {email!r}: pass at least one --keyword, --category or --author.")
    _unique_within_limit(topics)
    if max_papers is not None and not is_valid_max_papers(max_papers):
        raise SubscriberError(
            f"max_papers={max_papers!r} for {email!r} is invalid: give a whole number "
            f"from {MIN_MAX_PAPERS} to {MAX_MAX_PAPERS}, or None to use DIGEST_MAX_PAPERS."
        )
    address = normalize_email(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is not None and subscriber.status is SubscriberStatus.UNSUBSCRIBED and not resubscribe:
        raise SubscriberError(
            f"{address!r} unsubscribed{_unsubscribed_on(subscriber)}, so it was left unchanged: "
            "pass --replace --resubscribe only if this person asked to receive digests again."
        )
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


def is_valid_max_papers(value: object) -> bool:
    """Return whether ``value`` is a whole number from MIN_MAX_PAPERS to MAX_MAX_PAPERS, which a bool is not."""
    return isinstance(value, int) and not isinstance(value, bool) and MIN_MAX_PAPERS <= value <= MAX_MAX_PAPERS


@dataclass(frozen=True)
class ImportEntry:
    """A checked entry of an import file: a normalised address, its topics and its own max_papers."""

    email: str
    topics: list[TopicSpec]
    max_papers: int | None


@dataclass
class ImportResult:
    """The addresses an import added, updated, made active again, or skipped because they unsubscribed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resubscribed: list[str] = field(default_factory=list)
    skipped_unsubscribed: list[str] = field(default_factory=list)


def check_import_entries(entries: list[object], *, source: str) -> list[ImportEntry]:
    """Check every entry of the import file ``source`` before anything is written.

    Raises one SubscriberError that lists every problem, each with its entry
    number, the entry's address when it has one, the field, the value and the fix.
    """
    checked: list[ImportEntry] = []
    problems: list[str] = []
    first_entry_of: dict[str, int] = {}
    for number, raw_entry in enumerate(entries, start=1):
        label = f"Entry {number} of {len(entries)}"
        if isinstance(raw_entry, dict) and isinstance(raw_entry.get("email"), str) and raw_entry["email"].strip():
            label += f" ({_format_text(raw_entry['email'].strip())})"
        address, entry, entry_problems = _check_import_entry(label, raw_entry)
        problems += entry_problems
        if address is not None and address in first_entry_of:
            problems.append(
                f"{label}: the address is also in entry {first_entry_of[address]}: merge the two entries into one."
            )
        elif address is not None:
            first_entry_of[address] = number
            if entry is not None:
                checked.append(entry)

    if len(problems) == 1:
        raise SubscriberError(
            f"{source!r} has 1 problem, so no subscriber was added or changed. "
            f"Fix it and run the import again:\n  {problems[0]}"
        )
    if problems:
        listed = "\n  ".join(problems)
        raise SubscriberError(
            f"{source!r} has {len(problems)} problems, so no subscriber was added or changed. "
            f"Fix them and run the import again:\n  {listed}"
        )
    return checked


def _check_import_entry(label: str, entry: object) -> tuple[str | None, ImportEntry | None, list[str]]:
    """Check one entry of an import file.

    Returns its normalised address or None, the entry or None when it has a
    problem, and every problem found, each starting with ``label``.
    """
    if not isinstance(entry, dict):
        problem = (
            f"{label} is {_format_json(entry)}, not an object: write it as "
            '{"email": "ada@example.org", "keywords": ["diffusion models"]}.'
        )
        return None, None, [problem]

    problems = [f"{label}: {problem}" for problem in _unknown_field_problems(entry)]

    address: str | None = None
    raw_email = entry.get("email")
    if "email" not in entry:
        problems.append(f'{label} has no "email" field: add the address, such as "email": "ada@example.org".')
    elif not isinstance(raw_email, str):
        problems.append(
            f'{label}, "email": {_format_json(raw_email)} is not a string: '
            'write the address in quotes, such as "ada@example.org".'
        )
    else:
        try:
            address = normalize_email(raw_email)
        except SubscriberError as exc:
            problems.append(f'{label}, "email": {exc}')

    topics: list[TopicSpec] = []
    topic_problems: list[str] = []
    for name, kind in IMPORT_TOPIC_FIELDS.items():
        field_topics, field_problems = _check_topic_field(kind, entry.get(name, []))
        topics += field_topics
        topic_problems += [f'{label}, "{name}"{where}: {problem}' for where, problem in field_problems]
    problems += topic_problems
    topic_count = len(unique_topics(topics))
    if not topic_problems and topic_count == 0:
        problems.append(f'{label}: no topics: add at least one to "keywords", "categories" or "authors".')
    elif not topic_problems and topic_count > MAX_TOPICS:
        problems.append(f"{label}: {topic_count} topics: keep at most {MAX_TOPICS}.")

    max_papers = entry.get("max_papers")
    if "max_papers" in entry and not is_valid_max_papers(max_papers):
        problems.append(f'{label}, "max_papers": {_max_papers_problem(max_papers)}')

    if problems or address is None:
        return address, None, problems
    return address, ImportEntry(email=address, topics=topics, max_papers=max_papers), []


def _unknown_field_problems(entry: dict) -> list[str]:
    problems = []
    known = ", ".join(f'"{name}"' for name in IMPORT_FIELDS)
    for name in entry:
        if name in IMPORT_FIELDS:
            continue
        close = difflib.get_close_matches(str(name), IMPORT_FIELDS, n=1)
        fix = f'rename it to "{close[0]}" or remove it' if close else "remove it"
        problems.append(f"{_format_json(name)} is not a known field: {fix}. The known fields are {known}.")
    return problems


def _check_topic_field(kind: TopicKind, value: object) -> tuple[list[TopicSpec], list[tuple[str, str]]]:
    """Parse a list of topics, returning them and each problem as (" item N" or "", message)."""
    if isinstance(value, str):
        return [], [("", f"{_format_json(value)} is a string, not a list: write it as {_format_json([value])}.")]
    if not isinstance(value, list):
        return [], [("", f"{_format_json(value)} is not a list: write a list of strings, such as [], or leave it out.")]

    topics: list[TopicSpec] = []
    problems: list[tuple[str, str]] = []
    for number, item in enumerate(value, start=1):
        where = f" item {number}"
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            problems.append((where, f"{item} is not a string: write it in quotes, as {_format_json(str(item))}."))
        elif not isinstance(item, str):
            problems.append((where, f"{_format_json(item)} is not a string: remove it, or write a {kind.value} in quotes."))
        else:
            try:
                topics.append(parse_topic(kind, item))
            except TopicError as exc:
                problems.append((where, str(exc)))
    return topics, problems


def _max_papers_problem(value: object) -> str:
    fix = f"write a number from {MIN_MAX_PAPERS} to {MAX_MAX_PAPERS}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} is out of range: {fix}, or leave the field out to use DIGEST_MAX_PAPERS."
    return f"{_format_json(value)} is not a whole number: {fix} without quotes, or leave the field out to use DIGEST_MAX_PAPERS."


def import_entries(session: Session, entries: list[ImportEntry], *, resubscribe: bool = False) -> ImportResult:
    """Add or update checked entries as active subscribers, replacing the topics of existing ones.

    Addresses that unsubscribed are skipped, unless ``resubscribe`` is set
    because those people asked to receive digests again.
    """
    result = ImportResult()
    for entry in entries:
        existing = session.scalar(select(Subscriber).where(Subscriber.email == entry.email))
        if existing is None:
            result.added.append(entry.email)
        elif existing.status is not SubscriberStatus.UNSUBSCRIBED:
            result.updated.append(entry.email)
        elif resubscribe:
            result.resubscribed.append(entry.email)
        else:
            result.skipped_unsubscribed.append(entry.email)
            continue
        add_subscriber(
            session, entry.email, entry.topics, max_papers=entry.max_papers, replace=True, resubscribe=resubscribe
        )
    log.info(
        "Imported subscribers: %d added, %d updated, %d resubscribed, %d skipped because they unsubscribed",
        len(result.added), len(result.updated), len(result.resubscribed), len(result.skipped_unsubscribed),
    )
    return result


def _format_json(value: object) -> str:
    """Write ``value`` as JSON for a message, shortened to 60 characters."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _format_text(text: str) -> str:
    """Return ``text`` for a message, as a Python literal when it has characters that do not print."""
    printable = text if text.isprintable() else repr(text)
    return printable if len(printable) <= 60 else printable[:57] + "..."


def _unsubscribed_on(subscriber: Subscriber) -> str:
    if subscriber.unsubscribed_at is None:
        return ""
    return f" on {subscriber.unsubscribed_at.date().isoformat()}"


def _get(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberError("This subscription no longer exists: sign up again.")
    return subscriber


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

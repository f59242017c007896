"""The ``digest`` command: set up the database, fetch papers, manage subscribers, run the night."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from pathlib import Path

import click
from flask import Flask
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from digest import create_app, services
from digest.digests import latest_announcement_date, select_papers, build_digest_email
from digest.errors import DigestError
from digest.models import Delivery, DeliveryStatus, Subscriber
from digest.sources.store import fetch_all
from digest.subscriptions import add_subscriber, check_import_entries, find_subscriber, import_entries
from digest.topics import TopicKind, parse_topic

log = logging.getLogger(__name__)


class _AppGroup(click.Group):
    """Turn every DigestError into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise click.ClickException(
                f"The database cannot be used ({reason}): check DIGEST_DATABASE_URL and that the server is running."
            ) from exc
        except KombuOperationalError as exc:
            raise click.ClickException(
                f"The Celery broker cannot be reached ({exc}): start it, or unset DIGEST_BROKER_URL "
                "to run tasks in this process."
            ) from exc


def _app(ctx: click.Context) -> Flask:
    """Build the app once per command; every command but init-db needs the schema up to date."""
    if ctx.obj is None:
        app = create_app()
        if ctx.info_name != "init-db":
            problem = services(app).db.schema_problem()
            if problem:
                raise click.ClickException(problem)
        ctx.obj = app
    return ctx.obj


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``count`` followed by the noun in the singular or plural form."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: write it as YYYY-MM-DD, such as 2025-04-10.") from None


@click.group(cls=_AppGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log every step, not only warnings and errors.")
def main(verbose: bool) -> None:
    """Nightly email digests of new research papers. Settings come from DIGEST_* environment variables."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command("init-db")
@click.pass_context
def init_db(ctx: click.Context) -> None:
    """Create the database tables, or upgrade them to the latest schema."""
    app_services = services(_app(ctx))
    app_services.db.upgrade()
    click.echo(f"Database is up to date: {app_services.db.engine.url.render_as_string(hide_password=True)}")


@main.command()
@click.argument("locations", nargs=-1)
@click.pass_context
def fetch(ctx: click.Context, locations: tuple[str, ...]) -> None:
    """Fetch arXiv RSS feeds from URLs or files and store their papers (DIGEST_FEEDS when none are given).

    A feed that fails does not stop the others. Each failure is printed, and the
    command exits with status 1 after the last feed when any failed.
    """
    app_services = services(_app(ctx))
    locations = locations or app_services.settings.feeds
    if not locations:
        raise click.UsageError("No feed given: pass URLs or files, or set DIGEST_FEEDS.")

    outcome = fetch_all(app_services.db, locations)
    for location, result in outcome.stored.items():
        click.echo(f"{location}: {result.added} new, {result.updated} updated, {result.unchanged} already stored")
    for error in outcome.failed.values():
        click.echo(f"Error: {error}", err=True)
    if outcome.failed:
        raise click.ClickException(
            f"{len(outcome.failed)} of {len(locations)} feeds failed, so their papers were not stored: "
            "fix the feeds named above and fetch them again."
        )


@main.command("add-subscriber")
@click.argument("email")
@click.option("-k", "--keyword", "keywords", multiple=True, help="A word or phrase to look for in titles and abstracts (repeatable).")
@click.option("-c", "--category", "categories", multiple=True, help="An arXiv category such as cs.CL (repeatable).")
@click.option("-a", "--author", "authors", multiple=True, help="An author's name such as 'Yoshua Bengio' (repeatable).")
@click.option("--max-papers", type=click.IntRange(1, 200), help="The maximum number of papers per digest [default: DIGEST_MAX_PAPERS].")
@click.option("--replace", is_flag=True, help="Replace the topics of an existing subscriber instead of failing.")
@click.option(
    "--resubscribe", is_flag=True,
    help="With --replace, make an address that unsubscribed active again. Use it only when that person asked to come back.",
)
@click.pass_context
def add_subscriber_command(ctx, email, keywords, categories, authors, max_papers, replace, resubscribe) -> None:
    """Add an active subscriber, skipping the confirmation email."""
    topics = (
        [parse_topic(TopicKind.KEYWORD, value) for value in keywords]
        + [parse_topic(TopicKind.CATEGORY, value) for value in categories]
        + [parse_topic(TopicKind.AUTHOR, value) for value in authors]
    )
    with services(_app(ctx)).db.session() as session:
        subscriber = add_subscriber(
            session, email, topics, max_papers=max_papers, replace=replace, resubscribe=resubscribe
        )
        click.echo(
            f"Subscriber {subscriber.id} ({subscriber.email}) is active with {_plural(len(subscriber.topics), 'topic')}."
        )


@main.command("import-subscribers")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--resubscribe", is_flag=True,
    help="Also make addresses that unsubscribed active again. Use it only when those people asked to come back.",
)
@click.pass_context
def import_subscribers(ctx: click.Context, path: Path, resubscribe: bool) -> None:
    """Add or update active subscribers from a JSON list of {email, keywords, categories, authors, max_papers}.

    Every entry is checked first, and nothing is written when one is invalid.
    Addresses that unsubscribed are skipped unless --resubscribe is given.
    """
    try:
        # utf-8-sig also reads files that a Windows editor saved with a byte order mark.
        entries = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise click.ClickException(f"{str(path)!r} is not valid JSON ({exc}).") from exc
    if not isinstance(entries, list):
        raise click.ClickException(f"{str(path)!r} must contain a JSON list of subscribers.")

    checked = check_import_entries(entries, source=str(path))
    with services(_app(ctx)).db.session() as session:
        result = import_entries(session, checked, resubscribe=resubscribe)
    imported = len(result.added) + len(result.updated) + len(result.resubscribed)
    click.echo(
        f"Imported {_plural(imported, 'subscriber')} from {path}: {len(result.added)} added, "
        f"{len(result.updated)} updated, {len(result.resubscribed)} resubscribed."
    )
    skipped = result.skipped_unsubscribed
    if skipped:
        click.echo(
            f"Skipped {_plural(len(skipped), 'address', 'addresses')} that unsubscribed: {', '.join(skipped)}. "
            "Pass --resubscribe only if they asked to receive digests again."
        )


@main.command("run-night")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="The announcement date to send [default: the latest stored].")
@click.option("--skip-fetch", is_flag=True, help="Do not fetch DIGEST_FEEDS first.")
@click.option(
    "--retry-failed", is_flag=True,
    help="Move the date's failed digests back to pending first, so they are sent again.",
)
@click.pass_context
def run_night(ctx: click.Context, date_text: str | None, skip_fetch: bool, retry_failed: bool) -> None:
    """Run the nightly job: fetch DIGEST_FEEDS, then plan and send every subscriber's digest.

    Without a broker the command exits with status 1 when a feed failed or a
    digest of the date was not sent. With a broker it only queues the night and
    exits with status 0, and the workers' logs show how the night went.
    """
    from workers import init_celery
    from workers.tasks import fetch_feeds, plan_digests_task, run_nightly

    app = _app(ctx)
    app_services = services(app)
    init_celery(app)
    digest_date = _date(date_text)

    if not app_services.settings.eager_tasks:
        # The worker fetches, then finds the latest date itself once the new papers are stored.
        date_argument = digest_date.isoformat() if digest_date else None
        with app.app_context():
            if skip_fetch:
                plan_digests_task.delay(date_argument, retry_failed)
            else:
                run_nightly.delay(date_argument, retry_failed)
        click.echo("Queued the night: a Celery worker fetches the feeds and sends the digests.")
        return

    failed_feeds: dict[str, str] = {}
    with app.app_context():
        if app_services.settings.feeds and not skip_fetch:
            failed_feeds = fetch_feeds()["failed"]
        for error in failed_feeds.values():
            click.echo(f"Error: {error}", err=True)
        with app_services.db.session() as session:
            digest_date = digest_date or latest_announcement_date(session)
        if digest_date is None:
            raise click.ClickException("No papers are stored: run `digest fetch` first.")
        plan_digests_task(digest_date.isoformat(), retry_failed)

    counts = _print_summary(app, digest_date)

    rerun = f"`digest run-night --date {digest_date}`"
    problems: list[str] = []
    if failed_feeds:
        problems.append(
            f"{len(failed_feeds)} of {len(app_services.settings.feeds)} feeds in DIGEST_FEEDS failed to fetch: "
            f"fix them and run {rerun} again to match the empty digests against their papers."
        )
    failed = counts.get(DeliveryStatus.FAILED.value, 0)
    unsent = failed + counts.get(DeliveryStatus.PENDING.value, 0) + counts.get(DeliveryStatus.SENDING.value, 0)
    if unsent:
        advice = f"run {rerun} again to retry the pending ones"
        if failed:
            advice += ", and add --retry-failed to send the failed ones again"
        problems.append(f"{unsent} of {sum(counts.values())} digests were not sent: see the errors above, and {advice}.")
    if problems:
        raise click.ClickException(" ".join(problems))


def _print_summary(app: Flask, digest_date: dt.date) -> dict[str, int]:
    """Print each subscriber's delivery of ``digest_date`` and return the number of deliveries by status value."""
    app_services = services(app)
    with app_services.db.session() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status, Delivery.paper_count, Delivery.error)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.digest_date == digest_date)
            .order_by(Subscriber.email)
        ).all()
    click.echo(f"Digests for {digest_date}:")
    width = max((len(email) for email, *_ in rows), default=10)
    for email, status, paper_count, error in rows:
        papers = "paper" if paper_count == 1 else "papers"
        line = f"  {email:<{width}}  {status.value:<8} {paper_count:>3} {papers}"
        click.echo(line + (f"  ({error})" if error else ""))
    if app_services.settings.mail_backend == "outbox":
        click.echo(f"Emails are in {app_services.settings.outbox_dir} (open the .html files in a browser).")
    return dict(Counter(status.value for _, status, _, _ in rows))


@main.command()
@click.argument("email")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="The announcement date [default: the latest stored].")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML body to this file.")
@click.pass_context
def preview(ctx: click.Context, email: str, date_text: str | None, output: Path | None) -> None:
    """Show the digest a subscriber would get, without sending it or recording a delivery."""
    app_services = services(_app(ctx))
    with app_services.db.session() as session:
        subscriber = find_subscriber(session, email)
        if subscriber is None:
            raise click.ClickException(f"No subscriber has the address {email!r}: add one with `digest add-subscriber`.")
        topics = list(subscriber.topics)
        digest_date = _date(date_text) or latest_announcement_date(session)
    if digest_date is None:
        raise click.ClickException("No papers are stored: run `digest fetch` first.")

    matches, renderer = select_papers(app_services, subscriber, digest_date)
    if not matches:
        click.echo(f"No paper announced on {digest_date} matches the {_plural(len(topics), 'topic')} of {subscriber.email}.")
        return
    message = build_digest_email(app_services, subscriber, digest_date, matches, renderer)
    if output is not None:
        try:
            output.write_text(message.html, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"Writing {str(output)!r} failed ({exc.strerror}): choose a writable file.") from exc
        click.echo(f"Wrote the HTML digest to {output}")
    click.echo(f"Subject: {message.subject}\n")
    click.echo(message.text)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="The TCP port to listen on.")
@click.option("--debug", is_flag=True, help="Reload on code changes and show tracebacks in the browser.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, debug: bool) -> None:
    """Serve the sign-up and subscription pages with Flask's development server."""
    _app(ctx).run(host=host, port=port, debug=debug)

"""Store parsed papers, once per arXiv id however often a feed is read."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.db import Database
from digest.errors import FeedError
from digest.models import Paper
from digest.sources import NEW_ANNOUNCE_TYPES, PaperRecord, source_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreResult:
    """How many records were new, updated to a later version, or already stored."""

    added: int
    updated: int
    unchanged: int


def store_papers(session: Session, records: list[PaperRecord]) -> StoreResult:
    """Insert unseen papers and refresh the metadata of papers announced in a later version.

    A paper keeps the date and type of its first announcement. On the same day a
    ``new`` announcement wins over a ``cross`` one, so a paper read from two feeds
    is stored the same way in either order.
    """
    latest: dict[str, PaperRecord] = {}
    for record in records:
        seen = latest.get(record.arxiv_id)
        if seen is None or _ranks_before(record, seen):
            latest[record.arxiv_id] = record

    existing = {
        paper.arxiv_id: paper
        for paper in session.scalars(select(Paper).where(Paper.arxiv_id.in_(list(latest))))
    } if latest else {}

    new_rows = [_row(record) for arxiv_id, record in latest.items() if arxiv_id not in existing]
    added = _insert_ignoring_duplicates(session, new_rows)

    updated = 0
    for arxiv_id, paper in existing.items():
        if _refresh(paper, latest[arxiv_id]):
            updated += 1
    session.flush()

    result = StoreResult(added=added, updated=updated, unchanged=len(latest) - added - updated)
    log.info("Stored papers: %d added, %d updated, %d unchanged", result.added, result.updated, result.unchanged)
    return result


def _ranks_before(record: PaperRecord, other: PaperRecord) -> bool:
    """Tell whether ``record`` should represent the paper rather than ``other``."""
    if record.announced_on != other.announced_on:
        return record.announced_on < other.announced_on
    if record.version != other.version:
        return record.version > other.version
    return record.announce_type == "new" and other.announce_type != "new"


def _refresh(paper: Paper, record: PaperRecord) -> bool:
    changed = False
    if record.version > paper.version:
        paper.version = record.version
        paper.title = record.title
        paper.abstract = record.abstract
        paper.authors = list(record.authors)
        changed = True
    if record.categories and set(record.categories) - set(paper.categories):
        paper.categories = sorted(set(paper.categories) | set(record.categories))
        changed = True
    if (
        record.announced_on == paper.announced_on
        and record.announce_type == "new"
        and paper.announce_type != "new"
    ):
        paper.announce_type = "new"
        changed = True
    if record.announced_on < paper.announced_on and record.announce_type in NEW_ANNOUNCE_TYPES:
        # A feed read late brought an earlier announcement than the one stored.
        paper.announced_on = record.announced_on
        paper.announce_type = record.announce_type
        changed = True
    return changed


def _row(record: PaperRecord) -> dict:
    return {
        "arxiv_id": record.arxiv_id,
        "version": record.version,
        "title": record.title,
        "abstract": record.abstract,
        "authors": list(record.authors),
        "categories": list(record.categories),
        "abs_url": record.abs_url,
        "pdf_url": record.pdf_url,
        "announced_on": record.announced_on,
        "announce_type": record.announce_type,
        "source": record.source,
    }


def _insert_ignoring_duplicates(session: Session, rows: list[dict]) -> int:
    """Insert rows in one statement, skipping ids another worker stored meanwhile."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(Paper).on_conflict_do_nothing(index_elements=["arxiv_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(Paper).on_conflict_do_nothing(index_elements=["arxiv_id"])
    else:
        raise NotImplementedError(f"Storing papers on {dialect!r} is not supported: use PostgreSQL or SQLite.")
    result = session.execute(statement.returning(Paper.id), rows)
    return len(result.all())


@dataclass
class FetchOutcome:
    """The results of reading several sources: what each stored, or why it failed."""

    stored: dict[str, StoreResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def fetch_all(db: Database, locations: Iterable[str]) -> FetchOutcome:
    """Fetch and store every location in turn; a source that fails is logged and does not stop the others."""
    outcome = FetchOutcome()
    for location in locations:
        try:
            outcome.stored[location] = fetch_and_store(db, location)
        except FeedError as exc:
            log.error("Fetching %s failed: %s", location, exc)
            outcome.failed[location] = str(exc)
    return outcome


def fetch_and_store(db: Database, location: str) -> StoreResult:
    """Read one source and store its papers in one transaction; raises FeedError when it cannot be read."""
    records = source_for(location).fetch()
    with db.session() as session:
        result = store_papers(session, records)
    log.info("Fetched %s: %d items, %d new papers", location, len(records), result.added)
    return result

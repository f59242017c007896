from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from digest import services
from digest.models import Paper
from digest.sources.arxiv_rss import parse_arxiv_rss
from digest.sources.store import fetch_and_store, store_papers
from tests.conftest import AUDIO_FEED, FIXTURES, MAIN_FEED


def count_papers(app) -> int:
    with services(app).db.session() as session:
        return session.scalar(select(func.count(Paper.id)))


def test_fetch_twice_stores_each_paper_once(app):
    feed = str(MAIN_FEED / "2025-04-10.xml")
    first = fetch_and_store(services(app).db, feed)
    stored = count_papers(app)

    second = fetch_and_store(services(app).db, feed)

    assert first.added == stored == 419
    assert second.added == 0
    assert second.updated == 0
    assert count_papers(app) == stored


def test_fetch_overlapping_feeds_stores_union(app):
    db = services(app).db
    ids = set()
    for path in sorted(AUDIO_FEED.glob("*.xml")):
        fetch_and_store(db, str(path))
        ids |= {record.arxiv_id for record in parse_arxiv_rss(path.read_bytes())}

    assert count_papers(app) == len(ids)


def test_replacement_keeps_first_announcement(app):
    db = services(app).db
    records = parse_arxiv_rss((FIXTURES / "arxiv-rss" / "categories.xml").read_bytes())
    original = records[0]
    replaced = original.__class__(**{
        **original.__dict__,
        "version": 2,
        "title": "Sparse Attention for Long Sequences, Revised",
        "announced_on": original.announced_on + dt.timedelta(days=3),
        "announce_type": "replace",
    })
    with db.session() as session:
        store_papers(session, [original])
    with db.session() as session:
        result = store_papers(session, [replaced])

    with db.session() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == original.arxiv_id))
    assert result.updated == 1
    assert paper.version == 2
    assert paper.title == "Sparse Attention for Long Sequences, Revised"
    assert paper.announced_on == original.announced_on
    assert paper.announce_type == "new"

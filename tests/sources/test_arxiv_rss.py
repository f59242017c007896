from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest import services
from digest.errors import FeedError
from digest.models import Paper
from digest.sources.arxiv_rss import parse_arxiv_rss, read_location, split_authors
from digest.sources.store import fetch_and_store
from tests.conftest import FIXTURES, SAMPLE_FEEDS

SAMPLE_FILES = sorted(SAMPLE_FEEDS.glob("*/*.xml"))
ARXIV_NS = "{http://arxiv.org/schemas/atom}"
DC_NS = "{http://purl.org/dc/elements/1.1/}"


def feed_items(path: Path) -> list[ET.Element]:
    return ET.parse(path).getroot().findall("./channel/item")


def test_sample_data_has_feed_files():
    assert len(SAMPLE_FILES) >= 6


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_parser_reads_every_item(path: Path):
    records = parse_arxiv_rss(path.read_bytes(), source=str(path))
    items = feed_items(path)

    assert len(records) == len(items)
    assert [record.announce_type for record in records] == [
        item.findtext(f"{ARXIV_NS}announce_type") for item in items
    ]
    assert all(record.announced_on == dt.date.fromisoformat(path.stem) for record in records)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_parser_strips_abstract_prefix(path: Path):
    records = parse_arxiv_rss(path.read_bytes())

    assert not [record.arxiv_id for record in records if "Announce Type" in record.abstract]
    assert not [record.arxiv_id for record in records if record.abstract.startswith(("arXiv:", "Abstract:"))]
    assert all(record.abstract for record in records)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_parser_splits_authors_without_affiliations(path: Path):
    records = parse_arxiv_rss(path.read_bytes())
    creators = [item.findtext(f"{DC_NS}creator") or "" for item in feed_items(path)]

    assert not [name for record in records for name in record.authors if "(" in name or ")" in name]
    assert not [name for record in records for name in record.authors if name != name.strip() or not name]
    # Every author is a comma-separated part of dc:creator once the affiliations are dropped.
    assert all(len(record.authors) >= 1 for record, creator in zip(records, creators) if creator.strip())


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_store_keeps_one_row_per_item(app, path: Path):
    fetch_and_store(services(app).db, str(path))

    with services(app).db.session() as session:
        stored = session.scalar(select(func.count(Paper.id)))
    assert stored == len(feed_items(path))


def test_parser_reads_real_item_fields():
    path = SAMPLE_FEEDS / "cs.CL+cs.CV+cs.MM+cs.LG+cs.SI" / "2025-04-10.xml"
    records = {record.arxiv_id: record for record in parse_arxiv_rss(path.read_bytes())}
    record = next(r for r in records.values() if "Off-the-grid learning of mixtures" in r.title)

    assert record.authors == ("Cristina Butucea", "Jean-François Delmas", "Anne Dutfoy", "Clément Hardy")
    assert record.abs_url == f"https://arxiv.org/abs/{record.arxiv_id}"
    assert record.version >= 1


def test_parser_turns_latex_title_into_text():
    path = SAMPLE_FEEDS / "cs.CL+cs.CV+cs.MM+cs.LG+cs.SI" / "2025-04-10.xml"
    titles = [record.title for record in parse_arxiv_rss(path.read_bytes())]

    assert "Π-NeSy: A Possibilistic Neuro-Symbolic Approach" in titles


def test_parser_reads_categories_and_types():
    records = parse_arxiv_rss((FIXTURES / "arxiv-rss" / "categories.xml").read_bytes())

    assert [record.categories for record in records] == [
        ("cs.LG", "stat.ML"), ("math.AG",), ("hep-th", "cs.LG"), ("cs.LG", "math.OC"),
    ]
    assert [record.announce_type for record in records] == ["new", "new", "cross", "replace"]
    assert records[3].version == 3


@pytest.mark.parametrize(
    ("creator", "expected"),
    [
        ("Ada Lovelace, Alan Turing", ["Ada Lovelace", "Alan Turing"]),
        ("Ada Lovelace (University of London, UK), Alan Turing (NPL)", ["Ada Lovelace", "Alan Turing"]),
        ("Ada Lovelace and Alan Turing", ["Ada Lovelace", "Alan Turing"]),
        ("Cl\\'ement Hardy (CERMICS, EDF R\\&D)", ["Clément Hardy"]),
        ("", []),
    ],
)
def test_split_authors_cases(creator: str, expected: list[str]):
    assert split_authors(creator) == expected


def test_percent_sign_keeps_rest_of_abstract():
    feed = (FIXTURES / "arxiv-rss" / "categories.xml").read_bytes().replace(
        b"We study sparse attention patterns", b"We cut memory by 40% with $O(n)$ sparse attention patterns"
    )

    record = parse_arxiv_rss(feed)[0]

    assert record.abstract.startswith("We cut memory by 40% with O(n) sparse attention patterns")


def test_missing_file_names_path(tmp_path: Path):
    missing = tmp_path / "nowhere.xml"

    with pytest.raises(FeedError, match="nowhere.xml"):
        read_location(str(missing))


def test_html_page_is_rejected():
    with pytest.raises(FeedError, match="not valid RSS"):
        parse_arxiv_rss(b"<html><body>Service unavailable</body></html>", source="page.html")


def test_feed_without_arxiv_items_is_rejected():
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>
    <item><title>Hello</title><link>https://blog.example.org/1</link><guid>post-1</guid></item>
    </channel></rss>"""

    with pytest.raises(FeedError, match="none is an arXiv announcement"):
        parse_arxiv_rss(feed, source="blog.xml")


def test_empty_channel_gives_no_papers():
    feed = (FIXTURES / "arxiv-rss" / "categories.xml").read_text(encoding="utf-8")
    start, end = feed.index("<item>"), feed.rindex("</item>") + len("</item>")

    assert parse_arxiv_rss((feed[:start] + feed[end:]).encode()) == []


def test_empty_content_is_rejected():
    with pytest.raises(FeedError, match="empty.xml"):
        parse_arxiv_rss(b"", source="empty.xml")


def test_truncated_feed_is_rejected():
    content = (FIXTURES / "arxiv-rss" / "categories.xml").read_bytes()
    truncated = content[: content.index(b"<dc:creator>Emmy")]

    with pytest.raises(FeedError, match="not well-formed XML .*cut off in transfer, so nothing was stored"):
        parse_arxiv_rss(truncated, source="cut.xml")


def test_malformed_url_names_it():
    with pytest.raises(FeedError, match=r"Feed URL 'http://\[127.0.0.1' is invalid"):
        read_location("http://[127.0.0.1")

"""Parse arXiv's RSS 2.0 announcement feeds (the format used since 2024).

Each item carries ``arxiv:announce_type``, a guid ``oai:arXiv.org:ID`` + ``vN``,
a description that starts with ``arXiv:IDvN Announce Type: TYPE`` and then
``Abstract: ...``, and the authors in one ``dc:creator`` element, separated by
commas, some followed by affiliations in parentheses.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import logging
import re
import urllib.error
import urllib.request
import xml.sax
from pathlib import Path
from urllib.parse import urlsplit

import feedparser

from digest.errors import FeedError
from digest.sources import PaperRecord
from digest.sources.text import latex_to_text

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 60
USER_AGENT = "paper-digest/0.1 (self-hosted research digest)"

# New-style ids (2504.06561) and old-style ones (hep-th/0601001), with the version.
_ARXIV_ID = re.compile(r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})v(?P<version>\d+)$", re.IGNORECASE)
_DESCRIPTION_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?",
    re.IGNORECASE,
)
_AFFILIATION = re.compile(r"\([^()]*\)")


class ArxivRssSource:
    """One arXiv RSS feed, read from an http(s) URL or a local file."""

    def __init__(self, location: str) -> None:
        self.location = location

    def fetch(self) -> list[PaperRecord]:
        return parse_arxiv_rss(read_location(self.location), source=self.location)


def read_location(location: str) -> bytes:
    """Read a feed's bytes from an http(s) URL or a file path, raising FeedError on failure."""
    try:
        scheme = urlsplit(location).scheme.lower()
    except ValueError as exc:
        raise FeedError(f"Feed URL {location!r} is invalid ({exc}): write it as http(s)://host/path.") from exc
    if scheme in ("http", "https"):
        request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            advice = "the server failed, so try again later" if exc.code >= 500 else "check the URL"
            raise FeedError(f"Fetching feed {location!r} failed with HTTP {exc.code}: {advice}.") from exc

        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
            # A body cut short raises http.client.IncompleteRead, which is not an OSError.
            raise FeedError(
                f"Fetching feed {location!r} failed ({exc}): check the URL and that the server is reachable."
            ) from exc

    path = Path(location[len("file://"):] if scheme == "file" else location)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise FeedError(f"Feed file {str(path)!r} does not exist: give an existing file or an http(s) URL.") from exc
    except OSError as exc:
        raise FeedError(f"Feed file {str(path)!r} cannot be read ({exc.strerror}).") from exc


def parse_arxiv_rss(content: bytes, *, source: str = "<memory>") -> list[PaperRecord]:
    """Parse an arXiv RSS feed into records, skipping (and logging) items without an arXiv id."""
    feed = feedparser.parse(content)
    if not feed.get("version") and not feed.entries:
        reason = feed.get("bozo_exception") or "no RSS or Atom root element"
        raise FeedError(f"Feed {source!r} is not valid RSS or Atom ({reason}): check that the URL serves a feed.")

    if isinstance(feed.get("bozo_exception"), xml.sax.SAXException):
        # feedparser recovers the items before the fault, but a feed cut off in transfer
        # would then store half a day, and the missing papers would never be fetched again.
        raise FeedError(
            f"Feed {source!r} is not well-formed XML ({feed.bozo_exception}): it may have been "
            "cut off in transfer, so nothing was stored from it. Fetch it again."
        )

    feed_date = _parse_date(feed.feed.get("published")) or dt.datetime.now(dt.timezone.utc).date()
    records: list[PaperRecord] = []
    skipped = 0
    for entry in feed.entries:
        record = _parse_entry(entry, source, feed_date)
        if record is None:
            skipped += 1
            continue
        records.append(record)

    if skipped:
        log.warning("Skipped %d of %d items without an arXiv id in feed %s", skipped, len(feed.entries), source)
    if feed.entries and not records:
        raise FeedError(f"Feed {source!r} has {len(feed.entries)} items but none is an arXiv announcement.")
    return records


def _parse_entry(entry, source: str, feed_date: dt.date) -> PaperRecord | None:
    description = entry.get("summary", "")
    prefix = _DESCRIPTION_PREFIX.match(description)

    id_match = _ARXIV_ID.search(entry.get("id", "")) or (prefix and _ARXIV_ID.search(prefix.group("id")))
    if not id_match:
        return None
    arxiv_id = id_match.group("id")

    announce_type = entry.get("arxiv_announce_type") or (prefix.group("type") if prefix else "new")
    abstract = description[prefix.end():] if prefix else description

    return PaperRecord(
        arxiv_id=arxiv_id,
        version=int(id_match.group("version")),
        title=latex_to_text(entry.get("title", "")),
        abstract=latex_to_text(abstract),
        authors=tuple(split_authors(entry.get("author", ""))),
        categories=tuple(tag["term"] for tag in entry.get("tags", []) if tag.get("term")),
        abs_url=f"https://arxiv.org/abs/{arxiv_id}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        announced_on=_parse_date(entry.get("published")) or feed_date,
        announce_type=announce_type.strip().lower(),
        source=source,
    )


def split_authors(creator: str) -> list[str]:
    """Split a ``dc:creator`` value into author names, without affiliations or LaTeX."""
    names: list[str] = []
    depth = 0
    current: list[str] = []
    for char in creator:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))

    authors: list[str] = []
    for raw in names:
        # Older feeds join the last two names with "and".
        for part in re.split(r"\s+and\s+", raw):
            name = latex_to_text(_AFFILIATION.sub(" ", part))
            if name:
                authors.append(name)
    return authors


def _parse_date(value: str | None) -> dt.date | None:
    # Keep the date as arXiv wrote it (US Eastern), not converted to UTC.
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError):
        return None

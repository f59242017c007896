"""Sources of new papers: each turns a feed into :class:`PaperRecord` values.

Parsing is pure (bytes in, records out); :mod:`digest.sources.store` writes the
records to the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

#: Announcement types that introduce a paper to a subscriber. Replacements
#: (``replace``, ``replace-cross``) announce a new version of an old paper.
NEW_ANNOUNCE_TYPES = frozenset({"new", "cross"})


@dataclass(frozen=True)
class PaperRecord:
    """One paper as a source announced it, before it is stored."""

    arxiv_id: str
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    abs_url: str
    pdf_url: str
    announced_on: dt.date
    announce_type: str
    source: str


class Source(Protocol):
    """A place new papers come from, such as one arXiv RSS feed."""

    location: str

    def fetch(self) -> list[PaperRecord]:
        """Read the source and return the papers it announces."""
        ...


def source_for(location: str) -> Source:
    """Return the source that reads ``location`` (an http(s) URL or a file path)."""
    from digest.sources.arxiv_rss import ArxivRssSource

    return ArxivRssSource(location)

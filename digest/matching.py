"""Pick and rank the papers each subscriber's topics match.

Pure functions over plain values: no database, no Flask. A :class:`PaperIndex`
is built once per night from that night's papers. Each distinct topic is then
looked up once, whatever the number of subscribers who follow it.

Ranking: a paper whose title or author list a topic hits ranks above one that
topics hit only in the abstract. Ties go to more topics hit, then more abstract
occurrences, then category hits, then ``new`` before ``cross``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from digest.topics import TopicKind, TopicSpec

DEFAULT_MAX_PAPERS = 20
_WORD = re.compile(r"\w+")


class PaperLike(Protocol):
    """The fields of a paper that matching reads, from a stored Paper or a parsed PaperRecord."""

    @property
    def arxiv_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def authors(self) -> Sequence[str]: ...
    @property
    def categories(self) -> Sequence[str]: ...
    @property
    def announce_type(self) -> str: ...


@dataclass(frozen=True)
class TopicHit:
    """One topic's match on one paper, in the ``title``, ``abstract``, ``author`` or ``category`` field."""

    topic: TopicSpec
    field: str
    count: int = 1


@dataclass
class Match:
    """A paper picked for a subscriber and the topics that picked it."""

    paper: PaperLike
    hits: list[TopicHit] = field(default_factory=list)

    @property
    def rank_key(self) -> tuple:
        strong = sum(1 for hit in self.hits if hit.field in ("title", "author"))
        abstract = sum(1 for hit in self.hits if hit.field == "abstract")
        occurrences = sum(hit.count for hit in self.hits if hit.field == "abstract")
        categories = sum(1 for hit in self.hits if hit.field == "category")
        return (-strong, -abstract, -occurrences, -categories,
                self.paper.announce_type != "new", self.paper.arxiv_id)


def tokenize(text: str) -> list[str]:
    """Split text into case-folded words; hyphens and punctuation separate words."""
    return _WORD.findall(text.casefold())


def normalize_name(name: str) -> list[str]:
    """Fold an author name to plain lowercase ASCII-like tokens, given names first."""
    if "," in name:  # "LeCun, Yann" is written surname first.
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return tokenize(stripped.replace("-", ""))


def _given_names_agree(topic_given_names: list[str], author_given_names: list[str]) -> bool:
    """Compare first given names, letting an initial stand for a whole name."""
    if not topic_given_names:
        return True
    if not author_given_names:
        return False
    first, other = topic_given_names[0], author_given_names[0]
    if len(first) == 1 or len(other) == 1:
        return first[0] == other[0]
    return first == other


class PaperIndex:
    """Inverted indexes over one batch of papers, with each topic's hits cached."""

    def __init__(self, papers: Sequence[PaperLike]) -> None:
        self.papers = list(papers)
        self._title_tokens: list[list[str]] = []
        self._abstract_tokens: list[list[str]] = []
        self._title_postings: dict[str, set[int]] = defaultdict(set)
        self._abstract_postings: dict[str, set[int]] = defaultdict(set)
        self._surnames: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
        self._categories: dict[str, set[int]] = defaultdict(set)
        self._hits: dict[TopicSpec, dict[int, TopicHit]] = {}

        for position, paper in enumerate(self.papers):
            title = tokenize(paper.title)
            abstract = tokenize(paper.abstract)
            self._title_tokens.append(title)
            self._abstract_tokens.append(abstract)
            for token in title:
                self._title_postings[token].add(position)
            for token in abstract:
                self._abstract_postings[token].add(position)
            for author in paper.authors:
                tokens = normalize_name(author)
                if tokens:
                    self._surnames[tokens[-1]].append((position, tokens[:-1]))
            for category in paper.categories:
                lowered = category.casefold()
                self._categories[lowered].add(position)
                self._categories[lowered.split(".")[0]].add(position)

    def hits(self, topic: TopicSpec) -> dict[int, TopicHit]:
        """Return the papers (by position) that ``topic`` matches, computed once per topic."""
        cached = self._hits.get(topic)
        if cached is None:
            cached = self._compute_hits(topic)
            self._hits[topic] = cached
        return cached

    def _compute_hits(self, topic: TopicSpec) -> dict[int, TopicHit]:
        if topic.kind is TopicKind.KEYWORD:
            return self._keyword_hits(topic)
        if topic.kind is TopicKind.AUTHOR:
            return self._author_hits(topic)
        return {
            position: TopicHit(topic, "category")
            for position in self._categories.get(topic.value.casefold(), ())
        }

    def _keyword_hits(self, topic: TopicSpec) -> dict[int, TopicHit]:
        phrase = tokenize(topic.value)
        hits: dict[int, TopicHit] = {}
        for position in _candidates(self._abstract_postings, phrase):
            count = _count_phrase(self._abstract_tokens[position], phrase)
            if count:
                hits[position] = TopicHit(topic, "abstract", count)
        for position in _candidates(self._title_postings, phrase):
            if _count_phrase(self._title_tokens[position], phrase):
                hits[position] = TopicHit(topic, "title")
        return hits

    def _author_hits(self, topic: TopicSpec) -> dict[int, TopicHit]:
        name_tokens = normalize_name(topic.value)
        if not name_tokens:
            return {}
        surname, given_names = name_tokens[-1], name_tokens[:-1]
        return {
            position: TopicHit(topic, "author")
            for position, actual_given in self._surnames.get(surname, ())
            if _given_names_agree(given_names, actual_given)
        }


def _candidates(postings: dict[str, set[int]], phrase: list[str]) -> set[int]:
    sets: list[set[int]] = []
    for token in phrase:
        papers = postings.get(token)
        if not papers:
            return set()
        sets.append(papers)
    if not sets:
        return set()
    sets.sort(key=len)
    return set.intersection(*sets)


def _count_phrase(tokens: list[str], phrase: list[str]) -> int:
    width = len(phrase)
    first = phrase[0]
    return sum(
        1
        for start, token in enumerate(tokens)
        if token == first and tokens[start:start + width] == phrase
    )


def match_papers(
    index: PaperIndex, topics: Iterable[TopicSpec], *, limit: int = DEFAULT_MAX_PAPERS
) -> list[Match]:
    """Return at most ``limit`` papers that any of ``topics`` match, best first."""
    matches: dict[int, Match] = {}
    for topic in topics:
        for position, hit in index.hits(topic).items():
            match = matches.get(position)
            if match is None:
                match = matches[position] = Match(index.papers[position])
            match.hits.append(hit)
    ranked = sorted(matches.values(), key=lambda match: match.rank_key)
    return ranked[:limit]

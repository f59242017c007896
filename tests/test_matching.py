from __future__ import annotations

import re

import pytest

from digest.matching import PaperIndex, match_papers, normalize_name
from digest.sources import NEW_ANNOUNCE_TYPES
from digest.sources.arxiv_rss import parse_arxiv_rss
from digest.topics import TopicKind, TopicSpec
from tests.conftest import FIXTURES, MAIN_FEED


@pytest.fixture(scope="module")
def day_papers():
    records = parse_arxiv_rss((MAIN_FEED / "2025-04-10.xml").read_bytes())
    return [record for record in records if record.announce_type in NEW_ANNOUNCE_TYPES]


@pytest.fixture(scope="module")
def day_index(day_papers):
    return PaperIndex(day_papers)


@pytest.fixture(scope="module")
def category_papers():
    return parse_arxiv_rss((FIXTURES / "arxiv-rss" / "categories.xml").read_bytes())


def keyword(value: str) -> TopicSpec:
    return TopicSpec(TopicKind.KEYWORD, value)


def mentions(text: str, phrase: str) -> bool:
    words = r"\W+".join(re.escape(word) for word in phrase.split())
    return re.search(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE) is not None


def test_keyword_returns_only_real_mentions(day_papers, day_index):
    matches = match_papers(day_index, [keyword("reinforcement learning")], limit=500)

    assert matches
    assert all(mentions(m.paper.title + " " + m.paper.abstract, "reinforcement learning") for m in matches)


def test_keyword_finds_every_mention(day_papers, day_index):
    expected = {p.arxiv_id for p in day_papers if mentions(p.title + " " + p.abstract, "reinforcement learning")}

    matches = match_papers(day_index, [keyword("reinforcement learning")], limit=500)

    assert {m.paper.arxiv_id for m in matches} == expected


def test_title_hits_rank_first(day_index):
    matches = match_papers(day_index, [keyword("segmentation")], limit=500)
    in_title = [mentions(m.paper.title, "segmentation") for m in matches]

    assert True in in_title
    assert False in in_title
    assert in_title == sorted(in_title, reverse=True)


def test_more_topics_rank_higher(day_index):
    topics = [keyword("large language models"), keyword("reasoning")]

    matches = match_papers(day_index, topics, limit=500)
    hit_counts = [len(m.hits) for m in matches if all(h.field == "abstract" for h in m.hits)]

    assert hit_counts == sorted(hit_counts, reverse=True)


def test_limit_caps_digest(day_index):
    matches = match_papers(day_index, [keyword("model")], limit=20)

    assert len(matches) == 20


def test_keyword_is_case_insensitive(day_index):
    lower = match_papers(day_index, [keyword("large language models")], limit=500)
    upper = match_papers(day_index, [keyword("Large Language MODELS")], limit=500)

    assert [m.paper.arxiv_id for m in lower] == [m.paper.arxiv_id for m in upper]


def test_keyword_matches_whole_words_only(category_papers):
    index = PaperIndex(category_papers)

    assert match_papers(index, [keyword("attention")])
    assert not match_papers(index, [keyword("attent")])
    assert not match_papers(index, [keyword("sequence")])


def test_phrase_needs_word_order(category_papers):
    index = PaperIndex(category_papers)

    assert match_papers(index, [keyword("sparse attention")])
    assert not match_papers(index, [keyword("attention sparse")])


def test_hits_name_matched_topic(category_papers):
    index = PaperIndex(category_papers)

    [match] = match_papers(index, [keyword("Sparse Attention")])

    assert [(hit.topic.value, hit.field) for hit in match.hits] == [("Sparse Attention", "title")]


def test_author_topic_finds_papers(day_papers, day_index):
    expected = {p.arxiv_id for p in day_papers if "Hung-yi Lee" in p.authors}

    matches = match_papers(day_index, [TopicSpec(TopicKind.AUTHOR, "Hung-yi Lee")], limit=500)

    assert expected
    assert {m.paper.arxiv_id for m in matches} == expected


@pytest.fixture(scope="module")
def all_records_index():
    return PaperIndex(parse_arxiv_rss((MAIN_FEED / "2025-04-10.xml").read_bytes()))


@pytest.mark.parametrize("written", ["Clément Hardy", "clement hardy", "C. Hardy", "Hardy, Clément"])
def test_author_name_variants_match(all_records_index, written: str):
    matches = match_papers(all_records_index, [TopicSpec(TopicKind.AUTHOR, written)], limit=500)

    assert any("Off-the-grid learning of mixtures" in m.paper.title for m in matches)


def test_author_other_first_name_misses(all_records_index):
    matches = match_papers(all_records_index, [TopicSpec(TopicKind.AUTHOR, "Zora Hardy")], limit=500)

    assert not matches


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("cs.LG", ["9999.00001", "9999.00003", "9999.00004"]),
        ("math.AG", ["9999.00002"]),
        ("hep-th", ["9999.00003"]),
        ("math", ["9999.00002", "9999.00004"]),
        ("q-bio.GN", []),
    ],
)
def test_category_topic_matches(category_papers, category: str, expected: list[str]):
    index = PaperIndex(category_papers)

    matches = match_papers(index, [TopicSpec(TopicKind.CATEGORY, category)], limit=50)

    assert sorted(m.paper.arxiv_id for m in matches) == expected


def test_topic_looked_up_once(day_index):
    topic = keyword("diffusion")

    first = day_index.hits(topic)
    second = day_index.hits(TopicSpec(TopicKind.KEYWORD, "diffusion"))

    assert first is second


def test_normalize_name_folds_accents():
    assert normalize_name("Jean-François Delmas") == ["jeanfrancois", "delmas"]

from __future__ import annotations

import pytest

from digest.errors import TopicError
from digest.topics import MAX_TOPICS, TopicKind, TopicSpec, parse_topic, parse_topics


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("keyword", '  "graph   neural networks" ', "graph neural networks"),
        ("category", "cs.cl", "cs.CL"),
        ("category", "math.ag", "math.AG"),
        ("category", "physics.optics", "physics.optics"),
        ("category", "HEP-TH", "hep-th"),
        ("author", "Yoshua  Bengio", "Yoshua Bengio"),
    ],
)
def test_parse_topic_normalises(kind: str, raw: str, value: str):
    assert parse_topic(kind, raw) == TopicSpec(TopicKind(kind), value)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("keyword", "   ", r"The keyword topic '   ' is empty"),
        ("keyword", "+++", r"The keyword '\+\+\+' has no letters or digits"),
        ("category", "biology", r"The arXiv category 'biology' is not valid: write it as archive.subject"),
        ("category", "cs.XYZ.9", r"The arXiv category 'cs.XYZ.9' is not valid"),
        ("author", "...", r"The author '...' has no letters"),
        ("keyword", "x" * 201, r"is 201 characters long: shorten it to at most 200"),
        ("venue", "NeurIPS", r"Topic kind 'venue' is unknown: use one of keyword, category, author"),
    ],
)
def test_parse_topic_rejects_with_fix(kind: str, raw: str, message: str):
    with pytest.raises(TopicError, match=message):
        parse_topic(kind, raw)


def test_parse_topics_splits_fields():
    topics = parse_topics({
        TopicKind.KEYWORD: "diffusion models, protein folding\nreasoning",
        TopicKind.CATEGORY: "cs.CL,stat.ML",
        TopicKind.AUTHOR: "LeCun, Yann\nYoshua Bengio",
    })

    assert [topic.value for topic in topics] == [
        "diffusion models", "protein folding", "reasoning", "cs.CL", "stat.ML", "LeCun, Yann", "Yoshua Bengio",
    ]


def test_parse_topics_reports_every_error():
    with pytest.raises(TopicError) as excinfo:
        parse_topics({TopicKind.CATEGORY: "biology, cs.CL, chemistry"})

    assert "'biology'" in str(excinfo.value)
    assert "'chemistry'" in str(excinfo.value)


def test_parse_topics_drops_duplicates():
    topics = parse_topics({TopicKind.KEYWORD: "Diffusion, diffusion, DIFFUSION"})

    assert topics == [TopicSpec(TopicKind.KEYWORD, "Diffusion")]


def test_parse_topics_caps_count():
    text = ",".join(f"topic {number}" for number in range(MAX_TOPICS + 1))

    with pytest.raises(TopicError, match=f"{MAX_TOPICS + 1} topics were given: keep at most {MAX_TOPICS}"):
        parse_topics({TopicKind.KEYWORD: text})

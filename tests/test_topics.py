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


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("a\x00b", "U+0000 (a control character)"),
        ("a\x7fb", "U+007F (a control character)"),
        ("a\x9bb", "U+009B (a control character)"),
        ("ma\u200bchine learning", "U+200B (ZERO WIDTH SPACE)"),
        ("\u202egninrael\u202c", "U+202C (POP DIRECTIONAL FORMATTING), U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("trans\u00adformer", "U+00AD (SOFT HYPHEN)"),
        ("\ufeffreasoning", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
        ("a\ud800b", "U+D800 (half of a surrogate pair)"),
    ],
)
def test_parse_topic_rejects_invisible_characters(raw: str, code: str):
    with pytest.raises(TopicError) as excinfo:
        parse_topic("keyword", raw)

    assert code in str(excinfo.value)
    assert "retype it by hand" in str(excinfo.value)


def test_invisible_character_shown_escaped():
    with pytest.raises(TopicError) as excinfo:
        parse_topic("keyword", "ma\u200bchine learning")

    assert "The keyword 'ma<U+200B>chine learning' contains" in str(excinfo.value)
    assert "\u200b" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("kind", "raw", "start"),
    [
        ("category", "cs.C\u200bL", "The arXiv category 'cs.C<U+200B>L'"),
        ("author", "Ada\x00 Lovelace", "The author 'Ada<U+0000> Lovelace'"),
    ],
)
def test_invisible_character_names_kind(kind: str, raw: str, start: str):
    with pytest.raises(TopicError) as excinfo:
        parse_topic(kind, raw)

    assert str(excinfo.value).startswith(start)


def test_parse_topic_folds_white_space():
    assert parse_topic("keyword", "graph\tneural\x1cnetworks\u2028") == TopicSpec(TopicKind.KEYWORD, "graph neural networks")


def test_parse_topics_reports_invisible_character():
    with pytest.raises(TopicError, match=r"'a<U\+0000>b'"):
        parse_topics({TopicKind.KEYWORD: "diffusion, a\x00b"})


def test_parse_topic_rejects_non_string():
    with pytest.raises(TopicError, match="The keyword topic 123 is not text: write it as a string"):
        parse_topic("keyword", 123)  # type: ignore[arg-type]

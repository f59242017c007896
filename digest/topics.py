"""Topics a subscriber follows, and the checks that turn typed text into them."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from digest.errors import TopicError

MAX_TOPIC_LENGTH = 200
MAX_TOPICS = 50

#: arXiv's archives, the part of a category before the dot (https://arxiv.org/category_taxonomy).
ARXIV_ARCHIVES = frozenset({
    "astro-ph", "cond-mat", "cs", "econ", "eess", "gr-qc", "hep-ex", "hep-lat", "hep-ph",
    "hep-th", "math", "math-ph", "nlin", "nucl-ex", "nucl-th", "physics", "q-bio", "q-fin",
    "quant-ph", "stat",
})
_CATEGORY = re.compile(r"^(?P<archive>[A-Za-z][A-Za-z-]*)(?:\.(?P<subject>[A-Za-z][A-Za-z-]*))?$")
_WORD = re.compile(r"\w+")

#: Unicode categories a topic may not contain: control (Cc), format (Cf) and lone surrogates (Cs).
#: Format characters include zero-width spaces and joiners, bidi controls and the soft hyphen.
#: NOTE: this also rejects the zero-width non-joiner that Persian and some Indic spellings need.
#: arXiv titles, abstracts and author names are almost all in Latin script, so such topics would rarely match.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_TOPIC_NOUNS = {"keyword": "keyword", "category": "arXiv category", "author": "author"}


class TopicKind(str, enum.Enum):
    KEYWORD = "keyword"
    CATEGORY = "category"
    AUTHOR = "author"


@dataclass(frozen=True)
class TopicSpec:
    """A checked topic: what kind it is and its normalised value."""

    kind: TopicKind
    value: str


def parse_topic(kind: TopicKind | str, raw: str) -> TopicSpec:
    """Check and normalise one topic, raising TopicError with the fix when it is invalid."""
    try:
        kind = TopicKind(kind)
    except ValueError:
        raise TopicError(
            f"Topic kind {kind!r} is unknown: use one of {', '.join(k.value for k in TopicKind)}."
        ) from None

    if not isinstance(raw, str):
        raise TopicError(f"The {kind.value} topic {raw!r} is not text: write it as a string.")
    # str.split() folds tabs, line breaks and the other white-space control characters into single spaces.
    value = " ".join(raw.split()).strip("\"'“”‘’ ")
    if not value:
        raise TopicError(f"The {kind.value} topic {raw!r} is empty: type a value or remove the line.")
    if len(value) > MAX_TOPIC_LENGTH:
        raise TopicError(
            f"The {kind.value} topic {value[:40]!r}... is {len(value)} characters long: "
            f"shorten it to at most {MAX_TOPIC_LENGTH}."
        )
    _check_visible(kind, value)

    if kind is TopicKind.CATEGORY:
        return TopicSpec(kind, _check_category(value))
    if kind is TopicKind.KEYWORD and not _WORD.search(value):
        raise TopicError(
            f"The keyword {value!r} has no letters or digits: type a word or phrase such as 'graph neural networks'."
        )
    if kind is TopicKind.AUTHOR and len(_WORD.findall(value)) == 0:
        raise TopicError(f"The author {value!r} has no letters: type a name such as 'Yoshua Bengio'.")
    return TopicSpec(kind, value)


def _check_visible(kind: TopicKind, value: str) -> None:
    """Raise TopicError naming each control, format or surrogate character in ``value``.

    Such characters cannot be seen, never match a paper, and NUL makes PostgreSQL reject the row.
    """
    invisible = sorted({char for char in value if unicodedata.category(char) in _INVISIBLE_CATEGORIES})
    if not invisible:
        return
    escaped = "".join(f"<{_code_point(char)}>" if char in invisible else char for char in value)
    described = ", ".join(_describe_character(char) for char in invisible)
    plural = "s" if len(invisible) > 1 else ""
    noun = _TOPIC_NOUNS[kind.value]
    raise TopicError(
        f"The {noun} {escaped!r} contains the invisible character{plural} {described}: "
        "retype it by hand instead of pasting it."
    )


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _describe_character(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc":
        return f"{_code_point(char)} (a control character)"
    if category == "Cs":
        return f"{_code_point(char)} (half of a surrogate pair)"
    return f"{_code_point(char)} ({unicodedata.name(char, 'a format character')})"


def _check_category(value: str) -> str:
    match = _CATEGORY.match(value)
    if match is None or match.group("archive").lower() not in ARXIV_ARCHIVES:
        raise TopicError(
            f"The arXiv category {value!r} is not valid: write it as archive.subject, "
            f"such as 'cs.CL' or 'math.AG', or an archive alone, such as 'hep-th'."
        )
    archive = match.group("archive").lower()
    subject = match.group("subject")
    if subject is None:
        return archive
    # arXiv writes the computer science, math and a few other subject classes in
    # capitals (cs.CL, math.AG) and the physics ones in lower case (physics.optics).
    return f"{archive}.{subject.upper() if len(subject) == 2 else subject}"


def split_topic_text(kind: TopicKind, text: str) -> list[str]:
    """Split a form field into raw topics: authors one per line, other kinds also at commas."""
    if kind is TopicKind.AUTHOR:
        parts = re.split(r"[\n;]", text)
    else:
        parts = re.split(r"[\n,;]", text)
    return [part for part in (p.strip() for p in parts) if part]


def parse_topics(fields: dict[TopicKind, str]) -> list[TopicSpec]:
    """Parse every topic typed in a form, collecting all errors into one TopicError."""
    topics: list[TopicSpec] = []
    errors: list[str] = []
    for kind, text in fields.items():
        for raw in split_topic_text(kind, text or ""):
            try:
                spec = parse_topic(kind, raw)
            except TopicError as exc:
                errors.append(str(exc))
                continue
            topics.append(spec)
    if errors:
        raise TopicError(" ".join(errors))
    topics = unique_topics(topics)
    if len(topics) > MAX_TOPICS:
        raise TopicError(f"{len(topics)} topics were given: keep at most {MAX_TOPICS}.")
    return topics


def unique_topics(topics: list[TopicSpec]) -> list[TopicSpec]:
    """Drop repeated topics, keeping the first spelling; matching ignores case, so case does too."""
    seen: set[tuple[TopicKind, str]] = set()
    unique: list[TopicSpec] = []
    for topic in topics:
        key = (topic.kind, topic.value.casefold())
        if key not in seen:
            seen.add(key)
            unique.append(topic)
    return unique

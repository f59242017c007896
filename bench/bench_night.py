"""Measure the stages of a night on the real sample feeds with synthetic subscribers.

Run: .venv/bin/python bench/bench_night.py [--subscribers N] [--pipeline M]

The papers are the ``new`` and ``cross`` announcements of every feed file in
sample_data/ taken as one night. Each synthetic subscriber follows 1 to 5
phrases cut from real titles (each with a word of 5+ letters) and 0 to 2 real authors, drawn with a fixed seed.
The in-memory stages run on one core; ``--pipeline`` also runs the whole night
(SQLite, eager tasks, outbox backend) for M subscribers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.mail import OutgoingEmail  # noqa: E402
from digest.mail.mime import build_mime  # noqa: E402
from digest.mail.sendgrid import build_request_body  # noqa: E402
from digest.matching import PaperIndex, match_papers, tokenize  # noqa: E402
from digest.render import Renderer  # noqa: E402
from digest.sources import NEW_ANNOUNCE_TYPES  # noqa: E402
from digest.sources.arxiv_rss import parse_arxiv_rss  # noqa: E402
from digest.topics import TopicKind, TopicSpec  # noqa: E402

DAY = dt.date(2025, 4, 10)


def load_papers() -> list:
    papers = {}
    for path in sorted((ROOT / "sample_data" / "arxiv-rss").glob("*/*.xml")):
        for record in parse_arxiv_rss(path.read_bytes()):
            if record.announce_type in NEW_ANNOUNCE_TYPES:
                papers.setdefault(record.arxiv_id, record)
    return list(papers.values())


def make_subscribers(papers: list, count: int, seed: int = 7) -> list[list[TopicSpec]]:
    rng = random.Random(seed)
    subscribers = []
    for _ in range(count):
        topics = []
        phrase_count = rng.randint(1, 5)
        while len(topics) < phrase_count:
            words = tokenize(rng.choice(papers).title)
            width = min(rng.randint(1, 3), len(words))
            start = rng.randrange(len(words) - width + 1)
            phrase = words[start:start + width]
            # People follow content words, not "of the": keep phrases with a word of 5+ letters.
            if any(len(word) >= 5 for word in phrase):
                topics.append(TopicSpec(TopicKind.KEYWORD, " ".join(phrase)))
        for _ in range(rng.randint(0, 2)):
            topics.append(TopicSpec(TopicKind.AUTHOR, rng.choice(rng.choice(papers).authors)))
        subscribers.append(topics)
    return subscribers


def timed(label: str, count: int, function):
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    per_item = elapsed / count * 1e6 if count else 0.0
    print(f"{label:<38} {elapsed:8.3f} s  {per_item:9.1f} µs each  (n={count})")
    return result


def bench_stages(subscriber_count: int) -> None:
    papers = timed("parse sample feeds (feedparser)", 1, load_papers)
    subscribers = make_subscribers(papers, subscriber_count)
    index = timed("build paper index", len(papers), lambda: PaperIndex(papers))
    matches = timed("match subscribers", len(subscribers),
                    lambda: [match_papers(index, topics, limit=20) for topics in subscribers])
    non_empty = [m for m in matches if m]
    renderer = Renderer("Paper Digest")
    rendered = timed("render digests (subject, html, text)", len(non_empty), lambda: [
        renderer.render_digest(digest_date=DAY, matches=m, manage_url="http://127.0.0.1:5000/manage/t",
                               unsubscribe_url="http://127.0.0.1:5000/unsubscribe/t")
        for m in non_empty
    ])
    emails = [
        OutgoingEmail(sender="Paper Digest <digest@example.org>", recipient=f"s{i}@example.org",
                      subject=r.subject, text=r.text, html=r.html,
                      headers={"List-Unsubscribe": "<http://127.0.0.1:5000/unsubscribe/t>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        for i, r in enumerate(rendered)
    ]
    bodies = timed("SendGrid request bodies (dict + dumps)", len(emails),
                   lambda: [json.dumps(build_request_body(e)) for e in emails])
    timed("MIME messages (.eml bytes)", len(emails), lambda: [build_mime(e).as_bytes() for e in emails])
    sizes = sorted(len(body) for body in bodies)
    print(f"papers in the night: {len(papers)}; digests with at least one paper: {len(non_empty)} of {len(subscribers)}")
    print(f"median SendGrid body: {sizes[len(sizes) // 2] / 1024:.1f} KiB")


def bench_pipeline(subscriber_count: int) -> None:
    from digest import create_app, services
    from digest.sources.store import fetch_and_store
    from digest.subscriptions import add_subscriber
    from workers import init_celery
    from workers.tasks import plan_digests_task

    papers = load_papers()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"DIGEST_DATA_DIR": folder, "DIGEST_SECRET_KEY": "benchmark-only-key"})
        app_services = services(app)
        app_services.db.upgrade()
        for path in sorted((ROOT / "sample_data" / "arxiv-rss").glob(f"*/{DAY}.xml")):
            fetch_and_store(app_services.db, str(path))
        with app_services.db.session() as session:
            for number, topics in enumerate(make_subscribers(papers, subscriber_count)):
                add_subscriber(session, f"s{number}@example.org", topics)
        init_celery(app)
        with app.app_context():
            timed("whole night (SQLite, eager, outbox)", subscriber_count,
                  lambda: plan_digests_task(DAY.isoformat()))
        written = len(list((Path(folder) / "outbox").glob("*.eml")))
        print(f"digests written: {written}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000, help="synthetic subscribers for the stages")
    parser.add_argument("--pipeline", type=int, default=2_000, help="subscribers for the whole-night run (0 skips it)")
    arguments = parser.parse_args()
    bench_stages(arguments.subscribers)
    if arguments.pipeline:
        bench_pipeline(arguments.pipeline)


if __name__ == "__main__":
    main()

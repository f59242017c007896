"""Shared state that a ``celery worker --pool=threads`` uses from several threads at once."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import event

from digest import services
from digest.digests import NightCache
from digest.sources.store import fetch_and_store
from tests.conftest import MAIN_FEED

EARLIER_DATE = dt.date(2025, 4, 10)
LATER_DATE = dt.date(2025, 4, 11)
WAIT_SECONDS = 30


def test_night_cache_threads_keep_own_date(app):
    db = services(app).db
    for day in (EARLIER_DATE, LATER_DATE):
        fetch_and_store(db, str(MAIN_FEED / f"{day}.xml"))
    cache = NightCache()
    earlier_cached = threading.Event()
    later_returned = threading.Event()
    results: dict[dt.date, dt.date] = {}

    # The first thread pauses in its session's commit, after it has filled the cache
    # and before it returns, while a second thread fills the cache for another date.
    def pause_first_thread(_connection) -> None:
        if threading.current_thread().name == "earlier" and not earlier_cached.is_set():
            earlier_cached.set()
            later_returned.wait(timeout=WAIT_SECONDS)

    def read(day: dt.date) -> None:
        night = cache.get(db, day, "Paper Digest")
        results[day] = night.key[1]

    event.listen(db.engine, "commit", pause_first_thread)
    try:
        earlier = threading.Thread(target=read, args=(EARLIER_DATE,), name="earlier")
        earlier.start()
        assert earlier_cached.wait(timeout=WAIT_SECONDS)
        read(LATER_DATE)
        later_returned.set()
        earlier.join(timeout=WAIT_SECONDS)
    finally:
        event.remove(db.engine, "commit", pause_first_thread)

    assert results[LATER_DATE] == LATER_DATE
    assert results[EARLIER_DATE] == EARLIER_DATE

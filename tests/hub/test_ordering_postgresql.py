"""Readers never skip an event: appends from concurrent writers become visible in position order.

That a second writer waits on the append lock until the first commits is the backend contract's
(tests/hub/contract.py, LockContract); this is the end-to-end effect a tailing reader sees.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from hub import log, store
from hub.events import NewEvent
from tests.conftest import requires_postgresql

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]

WRITERS = 8
EVENTS_PER_WRITER = 40


def test_tailing_reader_sees_exactly_the_final_log_with_eight_concurrent_writers():
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(EVENTS_PER_WRITER):
                store.append(
                    [NewEvent(source=f"/writer/{w}", id=str(i), type="t", stream=f"w-{w}", data={"i": i})]
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reader() -> None:
        last = 0
        try:
            while True:
                finished = done.is_set()
                page = log.read_after(last, limit=50)
                if page:
                    seen.extend(e.position for e in page)
                    last = page[-1].position
                elif finished:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    tail = threading.Thread(target=reader)
    tail.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    tail.join(60)

    assert errors == []
    final = [e.position for e in log.read_after(0, limit=WRITERS * EVENTS_PER_WRITER + 1)]
    assert len(final) == WRITERS * EVENTS_PER_WRITER
    assert seen == final

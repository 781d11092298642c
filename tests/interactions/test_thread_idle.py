"""Threads that idle: an open thread with no activity for the continuation window becomes `thread.idled`,
once per quiet spell, without changing any placement decision (README "Customers, threads and context").

Time is passed to the idling service explicitly (`now=`), as the callback dispatcher's tests do.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from hub.models import StoredEvent
from interactions.models import Thread, TimelineEntry
from interactions.placement.models import PlacedThread
from interactions.threads import idling
from tests.conftest import requires_postgresql
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db
JANE = "mailto:jane@example.com"
THREADS = "/api/v1/threads"


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def ahead(**delta) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def idled(thread_id) -> list[StoredEvent]:
    return list(StoredEvent.objects.filter(stream=f"thread-{thread_id}", type="thread.idled"))


def chat(api, when: str, subject: str = JANE, ref: str | None = None, **data) -> dict:
    extra = {"conversation_ref": ref} if ref else {}
    return post(api, subject=subject, time=when, data={"channel": "chat", "text": "hi", **extra, **data})


def test_a_thread_idles_exactly_once_after_the_window(api):
    thread_id = chat(api, ago(hours=1))["thread_id"]

    assert idling.threads_idle(now=ahead(hours=70)) == 0  # 71 h since its last activity: inside the window
    assert Thread.objects.get(pk=thread_id).status == "open"
    assert idling.threads_idle(now=ahead(hours=72)) == 1  # 73 h
    assert idling.threads_idle(now=ahead(hours=73)) == 0  # a repeat, a second beat: nothing
    assert idling.threads_idle(now=ahead(hours=500)) == 0

    (event,) = idled(thread_id)
    assert event.source == "/threadline" and event.event_id.endswith("/idled")
    assert event.data["window_hours"] == 72 and event.data["last_activity_at"] is not None
    thread = Thread.objects.get(pk=thread_id)
    assert thread.status == "idle" and thread.version == event.stream_version
    entry = TimelineEntry.objects.get(thread_id=thread_id, type="thread.idled")
    assert entry.text == "Thread idle: no activity for 72 h"
    placed = PlacedThread.objects.get(pk=thread_id)
    assert placed.status == "open" and placed.idled_at is not None  # placement decides as before


def test_a_thread_with_no_activity_idles_from_when_it_was_opened(api):
    """A survey answer opened it (no activity): it idles the window after its opening."""
    thread_id = post(
        api,
        type="survey.answered",
        subject=JANE,
        time=ago(minutes=1),
        data={"channel": "web", "metric": "csat", "score": 4},
    )["thread_id"]
    assert PlacedThread.objects.get(pk=thread_id).last_activity_at is None

    assert idling.threads_idle(now=ahead(hours=71)) == 0
    assert idling.threads_idle(now=ahead(hours=73)) == 1
    assert idled(thread_id)[0].data["last_activity_at"] is None


def test_a_contact_inside_the_window_keeps_the_thread_open(api):
    first = chat(api, ago(hours=60), ref="s-1")
    second = chat(api, ago(hours=10), ref="s-1")
    assert second["thread_id"] == first["thread_id"]

    assert idling.threads_idle(now=ahead(hours=20)) == 0  # 80 h after the first, 30 h after the second
    assert Thread.objects.get(pk=first["thread_id"]).status == "open"
    assert idling.threads_idle(now=ahead(hours=63)) == 1  # 73 h after the second


def test_a_message_landing_between_the_read_and_the_append_wins(api):
    thread_id = chat(api, ago(hours=80), ref="s-2")["thread_id"]
    (quiet,) = idling.quiet_threads(datetime.now(UTC))

    # The customer writes again on the same conversation while the task decides.
    assert chat(api, ago(seconds=1), ref="s-2")["thread_id"] == thread_id
    assert idling.thread_idle(quiet, now=datetime.now(UTC)) is False
    assert idled(thread_id) == [] and Thread.objects.get(pk=thread_id).status == "open"
    assert idling.threads_idle(now=datetime.now(UTC)) == 0  # active a second ago


def test_an_event_on_the_thread_since_the_read_refuses_the_append_by_its_version(api, supervisor_api):
    """A note is no activity: the thread is still quiet, but the stream moved on, so the expected version
    refuses the append; the next tick, reading the new version, idles it."""
    thread_id = chat(api, ago(hours=80))["thread_id"]
    (quiet,) = idling.quiet_threads(datetime.now(UTC))
    note = supervisor_api.post(f"{THREADS}/{thread_id}/notes", {"text": "called them"}, format="json")
    assert note.status_code == 201

    assert idling.thread_idle(quiet, now=datetime.now(UTC)) is False
    assert idled(thread_id) == []
    assert idling.threads_idle(now=datetime.now(UTC)) == 1
    assert len(idled(thread_id)) == 1


def test_a_doubled_task_that_read_the_same_thread_appends_nothing_more(api):
    chat(api, ago(hours=80))
    now = datetime.now(UTC)
    first, second = idling.quiet_threads(now), idling.quiet_threads(now)  # two workers read the same

    assert idling.thread_idle(first[0], now=now) is True
    assert idling.thread_idle(second[0], now=now) is False
    assert StoredEvent.objects.filter(type="thread.idled").count() == 1


def _journey(api, subject: str, idle: bool) -> dict[str, str]:
    """A thread quiet past the window, then the customer's contacts: a new one, and one continuing the old
    conversation. The idling task runs in between, or not."""
    old = chat(api, ago(hours=100), subject=subject, ref=f"{subject}-ref")["thread_id"]
    if idle:
        assert idling.threads_idle(now=datetime.now(UTC)) == 1
    new = chat(api, ago(minutes=2), subject=subject)["thread_id"]
    same = chat(api, ago(minutes=1), subject=subject, ref=f"{subject}-ref")["thread_id"]
    return {"continued": "old" if same == old else "other", "new": "old" if new == old else new}


def test_placement_decides_the_same_with_and_without_the_idled_event(api):
    without = _journey(api, "chat:without", idle=False)
    with_idle = _journey(api, "chat:with", idle=True)

    assert without["continued"] == with_idle["continued"] == "old"  # a reply in its conversation joins it
    assert without["new"] != "old" and with_idle["new"] != "old"  # past the window: a new thread
    # Its activity makes the idled thread open again, as it always was for placement.
    (event,) = StoredEvent.objects.filter(type="thread.idled")
    thread = Thread.objects.get(pk=event.data["thread_id"])
    assert thread.status == "open" and PlacedThread.objects.get(pk=thread.pk).idled_at is None


def test_list_threads_by_status_idle(api, supervisor_api):
    quiet = chat(api, ago(hours=80))["thread_id"]
    active = chat(api, ago(hours=1), subject="chat:other")["thread_id"]
    idling.threads_idle(now=datetime.now(UTC))

    def ids(status: str) -> set[str]:
        response = supervisor_api.get(THREADS, {"status": status})
        assert response.status_code == 200, response.content
        return {t["id"] for t in response.json()["results"]}

    assert ids("idle") == {quiet}
    assert ids("open") == {active}
    assert supervisor_api.get(f"{THREADS}/{quiet}").json()["status"] == "idle"
    bad = supervisor_api.get(THREADS, {"status": "sleeping"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    # The context lists an idle thread apart from the open ones, with its recent entries: its objective is
    # not met, and the agent who answers Jane next still sees it (README).
    seen = context(api, JANE)
    assert seen["open_threads"] == []
    (idle,) = seen["idle_threads"]
    assert (idle["id"], idle["status"]) == (quiet, "idle")
    assert [e["type"] for e in idle["recent"]] == ["message.received", "thread.idled"]


def test_an_idle_thread_may_be_resolved_or_reopened(api, supervisor_api):
    first = chat(api, ago(hours=80))["thread_id"]
    second = chat(api, ago(hours=80), subject="chat:second")["thread_id"]
    assert idling.threads_idle(now=datetime.now(UTC)) == 2

    assert supervisor_api.post(f"{THREADS}/{first}/resolve").status_code == 201
    assert Thread.objects.get(pk=first).status == "resolved"
    assert supervisor_api.post(f"{THREADS}/{first}/resolve").status_code == 409

    assert supervisor_api.post(f"{THREADS}/{second}/reopen").status_code == 201
    assert Thread.objects.get(pk=second).status == "open"
    assert supervisor_api.post(f"{THREADS}/{second}/reopen").status_code == 409  # open now
    # Reopened by someone: worked on, not quiet until a whole window has passed since the reopen; then it
    # idles again, a second quiet spell with an event of its own.
    assert idling.threads_idle(now=datetime.now(UTC)) == 0
    later = datetime.now(UTC) + timedelta(hours=73)
    assert idling.threads_idle(now=later) == 1
    assert len(idled(second)) == 2 and Thread.objects.get(pk=second).status == "idle"
    assert idling.threads_idle(now=later) == 0


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_workers_idling_at_once_append_each_threads_idled_exactly_once(api):
    """Two beats, or a redelivered task: several workers find the same quiet threads at the same moment."""
    threads = {chat(api, ago(hours=80), subject=f"chat:quiet-{n}")["thread_id"] for n in range(5)}
    now = datetime.now(UTC)
    start = threading.Barrier(4)
    marked: list[int] = []

    def worker() -> None:
        try:
            start.wait(10)
            marked.append(idling.threads_idle(now=now))
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)

    assert sum(marked) == 5 and len(marked) == 4
    assert sorted(
        str(e.data["thread_id"]) for e in StoredEvent.objects.filter(type="thread.idled")
    ) == sorted(threads)
    assert set(Thread.objects.filter(pk__in=threads).values_list("status", flat=True)) == {"idle"}

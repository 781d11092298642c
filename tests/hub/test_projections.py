"""Projections: a rebuild equals the incremental state; a projector bug never loses an event."""

from __future__ import annotations

import io
import logging
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from hub import log, projections, subscriptions
from hub.backends import backend
from hub.log import read_after
from hub.models import ProjectionCheckpoint, StoredEvent, Subscription
from hub.rebuild import RebuildFailed, rebuild
from hub.rows import RowProjector
from interactions.agents import services as presence
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.models import (
    AgentPresence,
    Callback,
    ConversationRef,
    Customer,
    CustomerIdentifier,
    Role,
    Thread,
    TimelineEntry,
)
from interactions.placement.models import PlacedCustomer, PlacedIdentifier, PlacedRef, PlacedThread
from interactions.placement.projector import PlacementProjector
from interactions.projections.customers import CustomersProjector
from interactions.projections.threads import ThreadsProjector
from interactions.threads import idling
from tests.conftest import requires_postgresql
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
READ_MODELS = (
    Customer, CustomerIdentifier, Thread, ConversationRef, TimelineEntry, Callback, AgentPresence,
    PlacedCustomer, PlacedIdentifier, PlacedThread, PlacedRef,
)  # fmt: skip


def read_model_state() -> dict[str, list[dict]]:
    return {
        model.__name__: [{k: v for k, v in row.items()} for row in model.objects.order_by("pk").values()]
        for model in READ_MODELS
    }


def play_history(api, supervisor_api) -> None:
    post(
        api,
        subject="chat:v1",
        time="2026-11-20T09:00:00Z",
        data={
            "channel": "chat",
            "text": "hi",
            "identifiers": ["mailto:a@example.com"],
            "conversation_ref": "s1",
        },
    )
    post(
        api,
        subject="mailto:a@example.com",
        time="2026-11-20T10:00:00Z",
        data={"channel": "email", "text": "re", "conversation_ref": "<m1>", "topic": "billing"},
    )
    post(api, subject="tel:+15551234567", time="2026-11-20T11:00:00Z", data={"channel": "sms", "text": "sms"})
    post(
        api,
        subject="tel:+15551234567",
        time="2026-11-20T12:00:00Z",
        data={"channel": "sms", "text": "link", "identifiers": ["mailto:a@example.com"]},
    )  # merges two customers
    thread_id = post(
        api,
        type="call.started",
        subject="tel:+15551234567",
        time="2026-11-20T13:00:00Z",
        data={"direction": "inbound", "conversation_ref": "call-1", "topic": "fault"},
    )["thread_id"]
    supervisor_api.post(f"/api/v1/threads/{thread_id}/resolve")
    post(
        api,
        type="survey.answered",
        subject="tel:+15551234567",
        time="2026-11-20T14:00:00Z",
        data={"channel": "voice", "metric": "csat", "score": 4, "thread_id": thread_id},
    )
    post(
        api,
        type="customer.profile_updated",
        subject="tel:+15551234567",
        data={"name": "Ann", "timezone": "Europe/Paris"},
    )
    post(api, subject="social:x:@ann", time="2026-11-26T09:00:00Z", data={"channel": "social", "text": "?"})
    # Callbacks: one offered, accepted, not answered and scheduled again; one cancelled.
    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")
    request = callbacks.RequestInput(identifier="tel:+15557654321", phone="+15557654321", reason="refund")
    first = callbacks.callback_request(actor=agent, request=request)
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=first.pk, actor=agent)
    callbacks.callback_outcome(callback_id=first.pk, actor=agent, outcome="no_answer")
    second = callbacks.callback_request(actor=agent, request=request)
    callbacks.callback_cancel(callback_id=second.pk, actor=agent)


def test_rebuild_from_the_log_gives_exactly_the_incremental_state(api, supervisor_api):
    play_history(api, supervisor_api)
    before = read_model_state()
    assert before["Customer"] and before["Thread"] and before["TimelineEntry"]
    assert [c["state"] for c in before["Callback"]] in (
        ["scheduled", "cancelled"],
        ["cancelled", "scheduled"],
    )
    assert before["AgentPresence"][0]["last_offered_at"] is not None

    out = io.StringIO()
    call_command("rebuild_projections", stdout=out, stderr=io.StringIO())

    assert read_model_state() == before
    assert f"from {StoredEvent.objects.count()} events" in out.getvalue()
    head = StoredEvent.objects.order_by("-position").first().position
    checkpoints = ProjectionCheckpoint.objects.filter(name__in=[p.name for p in projections.projectors()])
    assert sorted(c.name for c in checkpoints) == ["callbacks", "followups", "placement"]
    assert {c.position for c in checkpoints} == {head}
    read_models = Subscription.objects.filter(name__in=["customers", "threads", "presence"])
    assert {(s.position, s.state) for s in read_models} == {(head, "running")} and len(read_models) == 3


def test_rebuild_gives_the_incremental_state_with_idled_threads_and_overdue_outcomes(api, supervisor_api):
    """thread.idled (a thread idle, one idled and active again, one idled and resolved) and
    callback.outcome_overdue: the threads, placement and callbacks tables come back the same."""
    play_history(api, supervisor_api)
    post(api, subject="chat:v9", time="2026-11-21T09:00:00Z", data={"channel": "chat", "text": "?"})
    assert idling.threads_idle() == 3  # the history's open threads are weeks old
    post(api, subject="chat:v1", data={"channel": "chat", "text": "back", "conversation_ref": "s1"})
    idle = Thread.objects.filter(status="idle")
    supervisor_api.post(f"/api/v1/threads/{idle.first().pk}/resolve")
    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")
    request = callbacks.RequestInput(identifier="tel:+15550001111", phone="+15550001111")
    row = callbacks.callback_request(actor=agent, request=request)
    dispatch.callbacks_dispatch()
    callbacks.callback_accept(callback_id=row.pk, actor=agent)
    dispatch.callbacks_dispatch(now=timezone.now() + timedelta(hours=1))  # overdue (and the retry offered)
    before = read_model_state()
    assert {t["status"] for t in before["Thread"]} >= {"idle", "open", "resolved"}
    assert any(c["overdue_at"] for c in before["Callback"])
    assert any(t["idled_at"] for t in before["PlacedThread"])

    rebuild()

    assert read_model_state() == before


@pytest.mark.parametrize("keep", [1, 3, 50_000])
def test_rebuild_in_small_pages_keeping_few_rows_between_them_gives_the_same_state(
    api, supervisor_api, monkeypatch, keep
):
    """A rebuild keeps customers, threads and callbacks in memory across pages and writes the least recently
    used back when it holds too many; pages of 2 events and a tiny allowance make that happen all the time
    (rows written back, loaded again, changed again, a merge in the middle)."""
    play_history(api, supervisor_api)
    before = read_model_state()
    monkeypatch.setattr("hub.rebuild.PAGE", 2)
    monkeypatch.setattr("hub.rows.REPLAY_KEEP", keep)

    rebuild()

    assert read_model_state() == before


@requires_postgresql
def test_a_rebuild_leaves_fresh_planner_statistics(api, supervisor_api):
    """Every read model is emptied and written again: the planner must not go on planning from the old
    statistics (or none, PostgreSQL's -1 rows) until autovacuum comes by, which may be never."""
    tables = [Customer._meta.db_table, Thread._meta.db_table, TimelineEntry._meta.db_table]

    def estimated() -> dict[str, float]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [tables])
            return dict(cursor.fetchall())

    with connection.cursor() as cursor:  # statistics of the empty tables (ANALYZE's are not rolled back)
        cursor.execute(f"ANALYZE {', '.join(tables)}")
    assert set(estimated().values()) == {0}
    play_history(api, supervisor_api)
    rebuild()
    assert estimated() == {
        Customer._meta.db_table: Customer.objects.count(),
        Thread._meta.db_table: Thread.objects.count(),
        TimelineEntry._meta.db_table: TimelineEntry.objects.count(),
    }


@pytest.mark.parametrize("projector", [PlacementProjector, CustomersProjector], ids=lambda p: p.name)
def test_a_page_of_new_customers_looks_their_identifiers_up_in_one_query(api, projector, monkeypatch):
    """Each `customer.created` names identifiers that have no row yet: the page's prefetch asks for all of
    them at once, and the handlers do not ask again for each event (a query per new customer was a fifth of
    a rebuild). The look-ups are counted at the backend's `load_by`, which still runs them."""
    for n in range(6):
        data = {"channel": "sms", "text": "hi", "identifiers": [f"mailto:c{n}@example.com"]}
        post(api, subject=f"tel:+1555765{n:04d}", data=data)
    post(
        api,
        subject="tel:+15557650000",
        data={"channel": "sms", "text": "again", "identifiers": ["account:c0"]},
    )
    events = read_after(0, limit=100)
    assert sum(e.type == "customer.created" for e in events) == 6
    assert sum(e.type == "customer.identified" for e in events) == 1
    model = projector.unit.tables["identifier"][0]
    before = sorted(model.objects.values_list("uri", "customer_id"))
    projector().reset()
    db = backend()
    lookups = []

    def load_by(model_, key, values, **kwargs):
        values = set(values)
        if model_ is model and values:
            lookups.append(sorted(values))
        return type(db).load_by(db, model_, key, values, **kwargs)

    monkeypatch.setattr(db, "load_by", load_by)
    projector().apply_all([e for e in events if e.type in projector.handlers])

    assert len(lookups) == 1 and len(lookups[0]) == 13, lookups
    assert sorted(model.objects.values_list("uri", "customer_id")) == before and len(before) == 13


def test_a_failed_rebuild_leaves_the_projector_applying_appends_as_usual(api, supervisor_api, monkeypatch):
    play_history(api, supervisor_api)
    before = read_model_state()
    original = RowProjector.apply_all
    calls = []

    def failing_on_the_second_page(self, events):
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return original(self, events)

    monkeypatch.setattr("hub.rebuild.PAGE", 3)
    monkeypatch.setattr(RowProjector, "apply_all", failing_on_the_second_page)
    with pytest.raises(RebuildFailed, match=r"positions \d+-\d+ \(RuntimeError: boom\); nothing was changed"):
        rebuild()
    monkeypatch.setattr(RowProjector, "apply_all", original)

    assert read_model_state() == before  # the rebuild's transaction rolled back
    post(api, subject="tel:+15550001111", data={"channel": "sms", "text": "after"})
    assert TimelineEntry.objects.filter(text="after").exists()  # applied and written at once, not held


def _until_another_session_waits_for_a_lock(timeout: float = 30) -> None:
    """Until some other session of this database waits for a lock (pg_locks is read live, not from a
    snapshot), so the rebuild has asked for what this writer holds."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.005)
    raise AssertionError("the rebuild never waited for the writer's lock")


def _writer(first, then):
    """A writer in a thread of its own: `first` (it holds what that writes), then, once the rebuild waits for
    a lock it holds, `then`. Whatever it raises is reported to the test."""

    def run(ready: threading.Event, failures: list[BaseException]) -> None:
        try:
            with transaction.atomic():
                first()
                ready.set()
                _until_another_session_waits_for_a_lock()
                then()
        except BaseException as exc:
            failures.append(exc)
        finally:
            ready.set()
            connection.close()

    return run


# The lean append: placement's tables, then the append lock.
_append_under_way = _writer(lambda: PlacedThread.objects.update(status="open"), log.append_lock)
# A runner's batch: its tables, then its checkpoint's row.
_runner_batch_under_way = _writer(
    lambda: Customer.objects.update(name="during"),
    lambda: Subscription.objects.filter(name="customers").update(attempts=0),
)
# A writer of two read models' tables, the later one in the rebuild's order first.
_writer_of_two_tables = _writer(
    lambda: PlacedThread.objects.update(status="open"), lambda: Customer.objects.update(name="during")
)


@requires_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("writer", [_append_under_way, _runner_batch_under_way], ids=["append", "runner"])
def test_a_rebuild_lets_a_writer_under_way_finish_instead_of_deadlocking_with_it(
    api, supervisor_api, caplog, writer
):
    """A writer holding rows of a read model that then waits for a lock the rebuild took first: PostgreSQL
    aborted the rebuild (it found the deadlock, having waited longest). The rebuild now locks the tables
    first, so it waits for the writer, which finishes; nothing is aborted or started again."""
    play_history(api, supervisor_api)
    ready, failures = threading.Event(), []
    thread = threading.Thread(target=writer, args=(ready, failures))
    thread.start()
    ready.wait(10)

    rebuild()
    thread.join(30)

    assert failures == [] and not thread.is_alive()
    assert "deadlock" not in caplog.text
    assert not Customer.objects.filter(name="during").exists()  # the rebuild came after, from the log


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_caught_between_the_tables_of_a_writer_lets_go_first_and_completes(
    api, supervisor_api, caplog
):
    """The writer holds a table the rebuild locks late and then wants one it locked early: a cycle. The
    rebuild's lock waits end before PostgreSQL's deadlock check (1 s), so it lets go of everything, the writer
    finishes, and the rebuild tries again; nobody is aborted."""
    caplog.set_level(logging.INFO, logger="hub.rebuild")
    play_history(api, supervisor_api)
    expected = StoredEvent.objects.count()
    ready, failures = threading.Event(), []
    thread = threading.Thread(target=_writer_of_two_tables, args=(ready, failures))
    thread.start()
    ready.wait(10)
    reported: list[int] = []
    told: list[int] = []

    replayed = rebuild(progress=reported.append, total=told.append)
    thread.join(30)

    assert failures == [] and "deadlock" not in caplog.text
    assert "tables are busy (try 1)" in caplog.text
    assert replayed == expected == sum(reported)
    assert told == [expected]  # once, when the rebuild held its locks: not for the tries that let go
    assert not Customer.objects.filter(name="during").exists()  # the rebuild came after it, from the log


def test_rebuild_after_the_read_models_were_damaged_restores_them(api, supervisor_api):
    play_history(api, supervisor_api)
    before = read_model_state()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM interactions_timeline_entry")
        cursor.execute("UPDATE interactions_thread SET topic = 'wrong'")

    rebuild()

    assert read_model_state() == before


def test_a_read_model_that_cannot_apply_an_event_parks_alone_and_catches_up_when_fixed(api, monkeypatch):
    post(api, time="2026-11-23T09:00:00Z")
    original = ThreadsProjector.apply_all

    def broken(self, events):
        if any(event.type == "message.received" for event in events):
            raise RuntimeError("bug in the projector")
        return original(self, events)

    monkeypatch.setattr(ThreadsProjector, "apply_all", broken)
    response = post(api, subject="tel:+15557654321", time="2026-11-23T10:00:00Z")

    # The event and its decisions are in the log even though the threads read model could not apply it.
    stored = StoredEvent.objects.get(position=response["position"])
    assert stored.metadata["thread_id"] == response["thread_id"]
    threads = Subscription.objects.get(name="threads")
    assert threads.state == "parked" and threads.failed_position == response["position"]
    assert "bug in the projector" in threads.last_error and threads.position < response["position"]
    assert not TimelineEntry.objects.filter(thread_id=response["thread_id"]).exists()
    # The other read models went on: the customer exists with its contact counted.
    status = {s.name: s for s in subscriptions.status()}
    assert status["customers"].state == "running" and status["customers"].position == response["position"]
    assert Customer.objects.get(pk=response["customer_id"]).channel_counts == {"sms": 1}
    # And placement, from its own write model: the same phone is the same customer and thread.
    again = post(api, subject="tel:+15557654321", time="2026-11-23T10:30:00Z")
    assert (again["customer_id"], again["thread_id"]) == (response["customer_id"], response["thread_id"])

    monkeypatch.setattr(ThreadsProjector, "apply_all", original)
    subscriptions.resume("threads")
    post(api, subject="tel:+15557654321", time="2026-11-23T11:00:00Z")

    threads.refresh_from_db()
    assert threads.state == "running" and threads.last_error == ""
    assert threads.position == StoredEvent.objects.order_by("-position")[0].position
    assert TimelineEntry.objects.filter(thread_id=response["thread_id"]).count() == 3


def test_placement_never_decides_from_an_inline_projection_left_behind_by_a_failure(api, monkeypatch):
    """Placement reads its own write model (the inline `placement` projection). When that projection failed
    on an event, the next request must not place from the stale tables: on PostgreSQL the lean append finds
    the projection unhealthy under its lock and the request is placed again after catching it up; on SQLite
    placement checks first. Either way the same phone stays one customer."""
    original = PlacementProjector.apply_all

    def broken(self, events):
        raise RuntimeError("bug in placement's projector")

    monkeypatch.setattr(PlacementProjector, "apply_all", broken)
    first = post(api, subject="tel:+15557650001", time="2026-11-23T09:00:00Z")
    checkpoint = ProjectionCheckpoint.objects.get(name="placement")
    assert "bug in placement's projector" in checkpoint.last_error  # appended all the same, failure recorded

    monkeypatch.setattr(PlacementProjector, "apply_all", original)  # fixed; nothing has caught it up yet
    second = post(api, subject="tel:+15557650001", time="2026-11-23T09:05:00Z")

    assert (second["customer_id"], second["thread_id"]) == (first["customer_id"], first["thread_id"])
    created = StoredEvent.objects.filter(type="customer.created", data__identifiers=["tel:+15557650001"])
    assert created.count() == 1
    checkpoint.refresh_from_db()
    assert checkpoint.last_error == "" and checkpoint.failed_position is None

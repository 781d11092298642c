"""Concurrent dispatchers and answers on PostgreSQL: one offer per attempt, one offer per agent, no waits.

Checked by hand: without the routing lock the first test fails (24 offers for 6 agents: dispatchers that
claimed different rows offered the same free agents).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from hub import log
from hub.models import StoredEvent
from interactions.agents import services as presence
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.locks import ROUTING_LOCKS
from interactions.models import Callback, CallbackState, Role
from tests.conftest import requires_postgresql
from tests.factories import ApiTokenFactory

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]


def in_threads(count: int, work) -> list[BaseException]:
    start, errors = threading.Barrier(count), []

    def run(index: int) -> None:
        try:
            start.wait(10)
            work(index)
        except BaseException as exc:  # reported by the caller's assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def setup(agents: int, requests: int) -> list:
    tokens = []
    for _ in range(agents):
        agent = ApiTokenFactory(role=Role.AGENT)
        presence.agent_socket_open(agent=agent)
        presence.agent_status_set(agent=agent, status="available")
        tokens.append(agent)
    integration = ApiTokenFactory(role=Role.INTEGRATION)
    for i in range(requests):
        number = f"+1555000{i:04d}"
        request = callbacks.RequestInput(identifier=f"tel:{number}", phone=number)
        callbacks.callback_request(actor=integration, request=request)
    return tokens


def test_four_dispatchers_at_once_make_one_offer_per_free_agent_and_per_callback():
    setup(agents=6, requests=30)

    # Small pages, so the dispatchers claim different rows (SKIP LOCKED) and route at the same time.
    assert in_threads(4, lambda i: dispatch.callbacks_dispatch(page=2)) == []

    offers = StoredEvent.objects.filter(type="callback.offered")
    assert offers.count() == 6
    assert max(Counter(o.data["agent_id"] for o in offers).values()) == 1
    assert max(Counter(o.stream for o in offers).values()) == 1
    assert Callback.objects.filter(state=CallbackState.OFFERED).count() == 6


def test_the_same_answer_sent_twice_at_once_is_recorded_once():
    (agent,) = setup(agents=1, requests=1)
    dispatch.callbacks_dispatch()
    callback = Callback.objects.get()

    errors = in_threads(6, lambda i: callbacks.callback_accept(callback_id=callback.pk, actor=agent))

    assert errors == []
    assert StoredEvent.objects.filter(type="callback.accepted").count() == 1


def test_a_dispatcher_skips_a_callback_another_transaction_holds_instead_of_waiting():
    setup(agents=2, requests=2)
    held, other = Callback.objects.order_by("due_at", "pk")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Callback.objects.select_for_update().get(pk=held.pk)  # say, a cancel in progress
            locked.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        dispatch.callbacks_dispatch()  # returns although the first due row is locked
        assert Callback.objects.get(pk=other.pk).state == CallbackState.OFFERED
        assert Callback.objects.get(pk=held.pk).state == CallbackState.SCHEDULED
    finally:
        release.set()
        holder.join(30)
    dispatch.callbacks_dispatch()
    assert Callback.objects.get(pk=held.pk).state == CallbackState.OFFERED


def test_a_nudge_leaves_the_work_to_a_dispatcher_that_is_routing_and_a_tick_waits_for_it():
    setup(agents=1, requests=1)
    routing, release = threading.Event(), threading.Event()

    def route() -> None:
        with transaction.atomic():
            log.lock_keys(ROUTING_LOCKS, ["route"])
            routing.set()
            release.wait(30)
        connection.close()

    holder = threading.Thread(target=route)
    holder.start()
    assert routing.wait(10)
    try:
        assert dispatch.callbacks_dispatch(wait=False) == 0  # returns at once
        assert Callback.objects.get().state == CallbackState.SCHEDULED
    finally:
        release.set()
        holder.join(30)
    assert dispatch.callbacks_dispatch(wait=True) == 1


def test_an_agent_freed_between_two_pages_of_a_run_is_left_for_the_next_tick_which_starts_at_the_oldest(
    monkeypatch,
):
    """Each page read who was free again: an agent who said available after the first page was offered a
    newer callback of a later page while the oldest waited."""
    setup(agents=0, requests=3)
    agent = ApiTokenFactory(role=Role.AGENT)
    presence.agent_socket_open(agent=agent)  # connected, not yet available
    real, pages = dispatch._dispatch_page_in_transaction, []

    def page(*args):
        result = real(*args)
        pages.append(result)
        if len(pages) == 1:  # the agent says available on their own connection, between the pages
            assert in_threads(1, lambda i: presence.agent_status_set(agent=agent, status="available")) == []
        return result

    monkeypatch.setattr(dispatch, "_dispatch_page_in_transaction", page)
    dispatch.callbacks_dispatch(page=2)
    assert not Callback.objects.filter(state=CallbackState.OFFERED).exists()

    monkeypatch.setattr(dispatch, "_dispatch_page_in_transaction", real)
    dispatch.callbacks_dispatch(page=2)  # the next tick
    oldest = Callback.objects.order_by("due_at", "pk").first()
    assert (oldest.state, oldest.agent_id) == (CallbackState.OFFERED, str(agent.pk))


def _waiting_for_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0] > 0


def test_a_status_change_while_the_dispatcher_routes_waits_and_comes_after_the_offer_in_the_log(monkeypatch):
    """The dispatcher read the statuses without the agents' locks: an agent's offline committed while it
    routed, and the log showed the offer after it (the agent was then counted as having let it lapse)."""
    (agent,) = setup(agents=1, requests=1)
    real, leaving = dispatch.available_agents, []

    def agents_then_the_agent_leaves():
        found = real()
        thread = threading.Thread(target=lambda: _go_offline(agent))
        thread.start()
        leaving.append(thread)
        for _ in range(1000):  # until it waits for this transaction's lock on the agent (or has committed)
            if _waiting_for_an_advisory_lock() or not thread.is_alive():
                break
            thread.join(0.01)
        return found

    monkeypatch.setattr(dispatch, "available_agents", agents_then_the_agent_leaves)
    dispatch.callbacks_dispatch()
    leaving[0].join(60)

    types = list(
        StoredEvent.objects.filter(type__in=["agent.status_changed", "callback.offered"])
        .order_by("position")
        .values_list("type", "data__status")
    )
    assert types[-2:] == [("callback.offered", None), ("agent.status_changed", "offline")]


def _go_offline(agent) -> None:
    try:
        presence.agent_status_set(agent=agent, status="offline")
    finally:
        connection.close()

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

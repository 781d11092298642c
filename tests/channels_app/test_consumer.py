"""The agent websocket in-process: auth, subscribe, resume, errors, presence and slow clients."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator

from config.asgi import application
from hub.models import StoredEvent
from hub.tail import tailer
from interactions import jobs
from interactions.ingestion.pipeline import events_ingest
from interactions.models import AgentPresence, AgentSocket, Role
from interactions.threads import services as threads
from tests.conftest import cloud_event
from tests.factories import ApiTokenFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
TIMEOUT = 10


@database_sync_to_async
def make_token(role=Role.AGENT, **kwargs):
    return ApiTokenFactory(role=role, **kwargs)


@database_sync_to_async
def ingest(*events):
    token = ApiTokenFactory(role=Role.ADMIN)
    return [r.as_dict() for r in events_ingest(list(events), token=token)]


def connect(token=None, *, raw: str | None = None, subprotocols=None) -> WebsocketCommunicator:
    path = "/ws/v1/agent"
    if raw is not None or token is not None:
        path += f"?token={raw if raw is not None else token.raw}"
    return WebsocketCommunicator(application, path, subprotocols=subprotocols)


async def opened(token) -> WebsocketCommunicator:
    ws = connect(token)
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected
    return ws


def counting(sockets):
    """The sockets that count (a closed one's row stays, as seen too long ago, until the sweep forgets it)."""
    from django.utils import timezone

    from interactions.agents.services import SOCKET_STALE

    return sockets.filter(seen_at__gte=timezone.now() - SOCKET_STALE)


async def frame(ws) -> dict:
    return await ws.receive_json_from(timeout=TIMEOUT)


async def subscribe(ws, topics, after=None) -> dict:
    await ws.send_json_to({"op": "subscribe", "topics": topics, "after": after})
    caught_up = await frame(ws)
    assert caught_up["op"] == "caught_up", caught_up
    return caught_up


@database_sync_to_async
def positions_after(position: int) -> list[int]:
    return list(StoredEvent.objects.filter(position__gt=position).values_list("position", flat=True))


async def closed_with(ws) -> int:
    message = await ws.receive_output(timeout=TIMEOUT)
    while message["type"] != "websocket.close":
        message = await ws.receive_output(timeout=TIMEOUT)
    return message["code"]


async def test_a_websocket_at_a_path_the_hub_does_not_serve_is_closed_with_4404():
    for path in ("/ws/v1/agent/", "/ws/v1/other", "/api/v1/events"):
        ws = WebsocketCommunicator(application, path)
        connected, _ = await ws.connect(timeout=TIMEOUT)

        assert connected and await closed_with(ws) == 4404, path


# --- authentication ------------------------------------------------------------------------------------


async def test_no_token_closes_with_4401():
    ws = connect()
    await ws.connect(timeout=TIMEOUT)
    assert await closed_with(ws) == 4401


async def test_a_wrong_token_closes_with_4401():
    ws = connect(raw="tl_nope")
    await ws.connect(timeout=TIMEOUT)
    assert await closed_with(ws) == 4401


async def test_an_integration_token_may_not_subscribe_4403():
    ws = connect(await make_token(Role.INTEGRATION, source_prefix="/x/"))
    await ws.connect(timeout=TIMEOUT)
    assert await closed_with(ws) == 4403


async def test_a_bearer_subprotocol_authenticates_and_is_echoed():
    token = await make_token()
    ws = connect(subprotocols=[f"bearer.{token.raw}"])
    connected, subprotocol = await ws.connect(timeout=TIMEOUT)
    assert connected and subprotocol == f"bearer.{token.raw}"
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()


# --- delivery -------------------------------------------------------------------------------------------


async def test_a_subscriber_receives_each_new_event_of_its_customer_with_customer_and_thread():
    first = (await ingest(cloud_event(id="a")))[0]
    ws = await opened(await make_token())
    await subscribe(ws, [f"customer:{first['customer_id']}"])

    second = (await ingest(cloud_event(id="b", data={"channel": "sms", "text": "again"})))[0]
    other = (await ingest(cloud_event(id="c", subject="mailto:other@example.com")))[0]
    sentinel = (await ingest(cloud_event(id="d")))[0]
    message = await frame(ws)
    following = await frame(ws)

    assert message["op"] == "event" and message["topic"] == f"customer:{first['customer_id']}"
    assert message["position"] == second["position"]
    assert message["event"]["id"] == "b" and message["event"]["data"]["text"] == "again"
    assert (message["event"]["customer_id"], message["event"]["thread_id"]) == (
        second["customer_id"],
        second["thread_id"],
    )
    # The other customer's event lies between b and d in the log, and a socket sends in log order: had it
    # been sent, it would be this frame. The sentinel d decides, not a wait.
    assert other["customer_id"] != first["customer_id"]
    assert second["position"] < other["position"] < sentinel["position"]
    assert following["position"] == sentinel["position"] and following["event"]["id"] == "d"
    await ws.disconnect()


async def test_resume_with_after_gets_exactly_the_missed_events_then_live_ones():
    first = (await ingest(cloud_event(id="r0")))[0]
    thread = f"thread:{first['thread_id']}"
    missed = [(await ingest(cloud_event(id=f"r{i}")))[0]["position"] for i in range(1, 4)]

    ws = await opened(await make_token())
    await ws.send_json_to({"op": "subscribe", "topics": [thread], "after": first["position"]})
    replayed = [await frame(ws) for _ in missed]
    caught_up = await frame(ws)
    live = (await ingest(cloud_event(id="r4")))[0]
    live_frame = await frame(ws)
    sentinel = (await ingest(cloud_event(id="r5")))[0]
    following = await frame(ws)

    assert [f["position"] for f in replayed] == missed
    assert caught_up == {"op": "caught_up", "position": missed[-1]}
    assert live_frame["position"] == live["position"]
    # No second copy of a replayed or live event: the frame after r4 is the next event, r5.
    assert following["position"] == sentinel["position"] and following["event"]["id"] == "r5"
    await ws.disconnect()


async def test_a_replay_overlapping_the_live_tail_sends_each_event_once(settings):
    # The tailer reads only when woken (its poll out of reach); on SQLite nothing else wakes it, so the
    # events below are still ahead of it when the replay sends them. (On PostgreSQL their NOTIFY may wake
    # it first; the outcome asserted is the same.)
    settings.THREADLINE_TAIL_POLL_SECONDS = 3600
    first = (await ingest(cloud_event(id="o0")))[0]
    ws = await opened(await make_token())
    missed = [(await ingest(cloud_event(id=f"o{i}")))[0]["position"] for i in range(1, 4)]

    await ws.send_json_to(
        {"op": "subscribe", "topics": [f"thread:{first['thread_id']}"], "after": first["position"]}
    )
    replayed = [(await frame(ws))["position"] for _ in missed]
    caught_up = await frame(ws)
    tailer().wake()  # now the tailer reads o1..o3 and offers them to the socket, which has sent them already
    sentinel = (await ingest(cloud_event(id="o4")))[0]
    tailer().wake()
    following = await frame(ws)

    assert replayed == missed and caught_up["position"] == missed[-1]
    assert following["position"] == sentinel["position"]  # o1..o3 were not sent a second time
    await ws.disconnect()


async def two_customers_then_a_link() -> tuple[dict, dict, list[dict]]:
    """A phone customer and an e-mail customer; one request then links them (a merge, the e-mail customer
    into the older phone one) and the customer writes again by SMS, which only the survivor's topic has."""
    phone = (await ingest(cloud_event(id="p", subject="tel:+15551234567", time="2026-11-23T09:00:00Z")))[0]
    email = (
        await ingest(
            cloud_event(
                id="e",
                subject="mailto:jane@example.com",
                time="2026-11-23T09:05:00Z",
                data={"channel": "email", "text": "hello"},
            )
        )
    )[0]
    return (
        phone,
        email,
        [
            cloud_event(
                id="link",
                subject="mailto:jane@example.com",
                time="2026-11-23T09:10:00Z",
                data={"channel": "email", "text": "my number", "identifiers": ["tel:+15551234567"]},
            ),
            cloud_event(id="sms", subject="tel:+15551234567", time="2026-11-23T09:11:00Z"),
        ],
    )


async def test_a_subscription_to_a_customer_follows_it_into_a_merge():
    phone, email, linking = await two_customers_then_a_link()
    ws = await opened(await make_token())
    await subscribe(ws, [f"customer:{email['customer_id']}"])

    results = await ingest(*linking)
    frames = [await frame(ws) for _ in range(3)]
    again = cloud_event(id="sms-2", subject="tel:+15551234567", time="2026-11-23T09:12:00Z")
    later = (await ingest(again))[0]
    last = await frame(ws)
    sentinel = cloud_event(id="sms-3", subject="tel:+15551234567", time="2026-11-23T09:13:00Z")
    sentinel_position = (await ingest(sentinel))[0]["position"]
    following = await frame(ws)

    merge = frames[0]["event"]
    assert merge["type"] == "customer.merged"
    assert (merge["data"]["merged_id"], merge["data"]["survivor_id"]) == (
        email["customer_id"],
        phone["customer_id"],
    )
    assert [f["event"]["id"] for f in frames[1:]] == ["link", "sms"]  # placed on the survivor only
    assert [f["position"] for f in frames[1:]] == [r["position"] for r in results]
    assert last["position"] == later["position"]
    # Followed through both topics, yet each event once: the frame after sms-2 is the next event, sms-3.
    assert following["position"] == sentinel_position and following["event"]["id"] == "sms-3"
    await ws.disconnect()


async def test_a_resume_from_before_a_merge_replays_both_customers_and_follows_the_survivor():
    _, email, linking = await two_customers_then_a_link()
    before = email["position"] - 1  # the e-mail customer's first event is in the replay
    await ingest(*linking)
    ws = await opened(await make_token())

    topic = f"customer:{email['customer_id']}"
    await ws.send_json_to({"op": "subscribe", "topics": [topic], "after": before})
    replayed = []
    while (message := await frame(ws))["op"] == "event":
        replayed.append(message["event"])

    # Everything placed on either customer past the cursor: the merged one's own history, the merge, and
    # the survivor's events after it.
    assert [e["id"] for e in replayed if e["source"] == "/sms-gateway/eu-1"] == ["e", "link", "sms"]
    assert "customer.merged" in [e["type"] for e in replayed]
    assert message["op"] == "caught_up"
    await ws.disconnect()


async def test_ending_a_merged_customers_subscription_keeps_the_survivor_asked_for_by_name():
    """The socket kept one set of topics: unsubscribing the merged id (which listens on the survivor too)
    dropped the survivor the client had subscribed to by name, and its events stopped without a word."""
    phone, email, linking = await two_customers_then_a_link()
    await ingest(*linking)
    ws = await opened(await make_token())
    await subscribe(ws, [f"customer:{phone['customer_id']}"])  # the survivor, by name
    await subscribe(ws, [f"customer:{email['customer_id']}"])  # the merged id: the survivor too

    await ws.send_json_to({"op": "unsubscribe", "topics": [f"customer:{email['customer_id']}"]})
    await ws.send_json_to({"op": "ping"})
    assert (await frame(ws))["op"] == "pong"
    posted = (await ingest(cloud_event(id="after-unsub", subject="tel:+15551234567")))[0]

    received = await frame(ws)
    assert received["op"] == "event" and received["position"] == posted["position"]
    await ws.send_json_to({"op": "unsubscribe", "topics": [f"customer:{phone['customer_id']}"]})
    await ws.send_json_to({"op": "ping"})
    assert (await frame(ws))["op"] == "pong"
    await ingest(cloud_event(id="after-both", subject="tel:+15551234567"))
    await ws.send_json_to({"op": "ping"})
    assert (await frame(ws))["op"] == "pong"  # nothing more: neither subscription is left
    await ws.disconnect()


async def test_subscribing_by_name_to_a_survivor_followed_through_a_merge_replays_what_was_never_sent():
    """The survivor, followed live from the merge on, was "not new" to a later subscription with `after`:
    its own earlier events were never replayed."""
    phone, email, linking = await two_customers_then_a_link()
    ws = await opened(await make_token())
    await subscribe(ws, [f"customer:{email['customer_id']}"])
    await ingest(*linking)
    live = [(await frame(ws))["event"]["id"] for _ in range(3)]  # the merge, link and sms

    await ws.send_json_to({"op": "subscribe", "topics": [f"customer:{phone['customer_id']}"], "after": 0})
    replayed = []
    while (message := await frame(ws))["op"] == "event":
        replayed.append(message["event"]["id"])

    assert live[1:] == ["link", "sms"]
    assert "p" in replayed  # the survivor's own first event, never sent on this socket
    assert "link" not in replayed and "sms" not in replayed  # sent already: not again
    assert message["op"] == "caught_up"
    await ws.disconnect()


async def test_a_subscription_with_a_recent_after_on_a_quiet_socket_replays_nothing_before_it():
    """The cursor of a socket listening on a quiet topic stays far behind the log's head: a new
    subscription was sent that topic's events since the cursor, though they were at or before its after."""
    ws = await opened(await make_token())
    await subscribe(ws, ["agent:me"])
    results = await ingest(*[cloud_event(id=f"m{i}", subject="tel:+15551234567") for i in range(3)])
    last = results[-1]["position"]

    await ws.send_json_to(
        {"op": "subscribe", "topics": [f"customer:{results[0]['customer_id']}"], "after": last}
    )

    assert await frame(ws) == {"op": "caught_up", "position": last}
    await ws.disconnect()


async def test_a_survivor_followed_in_a_replay_is_replayed_its_earlier_events_when_asked_for_by_name():
    """A replay that followed a merge recorded the survivor as sent from the replay's after, not from the
    merge: its events between them were never sent, nor replayed when it was asked for by name."""

    def at(minute: int) -> str:
        return f"2026-11-23T09:{minute:02d}:00Z"  # the older customer survives a merge: C, then B, then A

    mail = {"channel": "email", "text": "hello"}
    await ingest(cloud_event(id="c", subject="tel:+15551234567", time=at(0)))
    b = (await ingest(cloud_event(id="b", subject="mailto:jane@example.com", time=at(5), data=mail)))[0]
    a = (await ingest(cloud_event(id="a", subject="mailto:jo@example.com", time=at(6), data=mail)))[0]
    await ingest(cloud_event(id="b2", subject="mailto:jane@example.com", time=at(7), data=mail))
    names_b = {**mail, "identifiers": ["mailto:jane@example.com"]}
    names_c = {**mail, "identifiers": ["tel:+15551234567"]}
    # A is merged into B, then B into C.
    await ingest(cloud_event(id="link1", subject="mailto:jo@example.com", time=at(10), data=names_b))
    await ingest(cloud_event(id="link2", subject="mailto:jane@example.com", time=at(11), data=names_c))
    ws = await opened(await make_token())
    await ws.send_json_to(
        {"op": "subscribe", "topics": [f"customer:{a['customer_id']}"], "after": a["position"] - 1}
    )
    first = []
    while (message := await frame(ws))["op"] == "event":
        first.append(message["event"]["id"])

    await ws.send_json_to({"op": "subscribe", "topics": [f"customer:{b['customer_id']}"], "after": 0})
    second = []
    while (message := await frame(ws))["op"] == "event":
        second.append(message["event"]["id"])

    assert "b2" not in first and "b2" in second and "b" in second
    assert not set(first) & set(second), (first, second)  # nothing sent twice
    assert "c" in second  # a subscription to a merged customer listens on its survivor too, from after on
    await ws.disconnect()


async def test_a_merge_committed_while_a_replay_runs_loses_none_of_the_survivors_events(monkeypatch):
    """The fan-out followed the merge as it was offered, before the replay looked: the survivor was neither
    held nor asked for by the replay, which sent the merge and then moved the cursor past the survivor's
    events, and the live queue skipped them."""
    from channels_app import consumers

    phone, email, linking = await two_customers_then_a_link()
    ws = await opened(await make_token())
    caught = await subscribe(ws, [f"customer:{email['customer_id']}"])  # held, from now on
    original, merged = consumers._read_after, []

    async def read_after(position: int):
        if not merged:  # the customer is merged while this replay runs, and the fan-out offers it
            merged.append(await ingest(*linking))
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while f"customer:{phone['customer_id']}" not in await _topics_of(ws) and (
                asyncio.get_running_loop().time() < deadline
            ):
                await asyncio.sleep(0.05)
        return await original(position)

    monkeypatch.setattr(consumers, "_read_after", read_after)
    await ws.send_json_to({"op": "subscribe", "topics": ["agent:me"], "after": caught["position"]})
    got = []
    await ws.send_json_to({"op": "ping"})
    while (message := await frame(ws))["op"] != "pong":
        if message["op"] == "event":
            got.append("merge" if message["event"]["type"] == "customer.merged" else message["event"]["id"])

    assert got == ["merge", "link", "sms"], got
    await ws.disconnect()


async def _topics_of(ws) -> set[str]:
    """What the sockets of this loop listen on (the fan-out's view of them)."""
    from channels_app.fanout import fanout

    _, fan = await fanout()
    tailer().wake()  # so that it reads the merge and offers it now
    return {topic for topic, sockets in fan._by_topic.items() if sockets}


async def test_a_supervisor_subscribed_to_all_receives_the_whole_log_in_order_without_gaps():
    ws = await opened(await make_token(Role.SUPERVISOR))
    start = await subscribe(ws, ["all"], after=0)

    results = await ingest(*[cloud_event(id=f"s{i}", subject=f"tel:+1555123{i:04d}") for i in range(5)])
    expected = await positions_after(start["position"])
    received = [(await frame(ws))["position"] for _ in expected]
    # A sentinel from a known customer on an open thread: one event, the next in the log.
    sentinel = (await ingest(cloud_event(id="s-last", subject="tel:+15551230000")))[0]
    following = await frame(ws)

    assert received == expected
    assert results[-1]["position"] == expected[-1]
    assert await positions_after(expected[-1]) == [sentinel["position"]]
    assert following["position"] == sentinel["position"]  # nothing repeated or extra before it
    await ws.disconnect()


async def test_agent_me_receives_my_assignments():
    token = await make_token()
    first = (await ingest(cloud_event(id="m")))[0]
    ws = await opened(token)
    await subscribe(ws, ["agent:me"])

    await database_sync_to_async(threads.thread_assign)(
        thread_id=first["thread_id"], agent_id=str(token.pk), actor=token
    )
    message = await frame(ws)

    assert message["topic"] == f"agent:{token.pk}"
    assert message["event"]["type"] == "thread.assigned"
    await ws.disconnect()


async def test_a_slow_client_is_closed_with_4408_instead_of_losing_events(settings):
    settings.THREADLINE_WS_BUFFER = 5
    ws = await opened(await make_token(Role.SUPERVISOR))
    await subscribe(ws, ["all"])

    await ingest(*[cloud_event(id=f"burst-{i}") for i in range(20)])  # one page for the tailer: > 5 queued

    assert await closed_with(ws) == 4408


# --- bad frames: an error frame, never a silent drop ---------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"op": "dance"}', "unknown_op"),
        ('{"op": "subscribe"}', "bad_frame"),
        ('{"op": "subscribe", "topics": []}', "bad_frame"),
        ('{"op": "subscribe", "topics": ["galaxy:1"]}', "bad_topic"),
        ('{"op": "subscribe", "topics": ["customer:not-a-uuid"]}', "bad_topic"),
        ('{"op": "subscribe", "topics": ["customer:00000000-0000-0000-0000-000000000000"]}', "not_found"),
        ('{"op": "subscribe", "topics": ["thread:00000000-0000-0000-0000-000000000000"]}', "not_found"),
        ('{"op": "subscribe", "topics": ["all"]}', "forbidden"),
        ('{"op": "subscribe", "topics": ["agent:me"], "after": -1}', "bad_after"),
        ('{"op": "subscribe", "topics": ["agent:me"], "after": "5"}', "bad_after"),
        ('{"op": "status", "value": "asleep"}', "bad_status"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays_open(payload, code):
    ws = await opened(await make_token())

    await ws.send_to(text_data=payload)
    error = await frame(ws)
    await ws.send_json_to({"op": "ping"})

    assert error["op"] == "error" and error["code"] == code and error["detail"]
    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()


@pytest.mark.parametrize(
    ("asked", "code", "topic"),
    [
        (
            "customer:00000000-0000-0000-0000-0000000000AB",
            "not_found",
            "customer:00000000-0000-0000-0000-0000000000ab",
        ),
        (
            "thread:00000000-0000-0000-0000-000000000001",
            "not_found",
            "thread:00000000-0000-0000-0000-000000000001",
        ),
        ("all", "forbidden", "all"),
        ("galaxy:1", "bad_topic", None),
    ],
)
async def test_a_refused_topic_is_named_so_the_client_knows_which_to_drop(asked, code, topic):
    """A subscribe fails whole when one topic is unknown (a customer gone with a restored log): the error
    frame names that topic in the hub's own form; a malformed one is not repeated there."""
    ws = await opened(await make_token())

    await ws.send_json_to({"op": "subscribe", "topics": ["agent:me", asked], "after": None})
    error = await frame(ws)

    assert (error["code"], error.get("topic")) == (code, topic)
    await ws.disconnect()


async def test_a_client_gone_while_a_frame_is_answered_ends_the_consumer_and_its_socket_row(monkeypatch):
    """uvicorn raises ClientDisconnected (an OSError) when the client left: the consumer ends, and what its
    connect set up (heartbeat, socket row) goes with it, though no disconnect message came."""
    from uvicorn.protocols.utils import ClientDisconnected

    from channels_app.consumers import AgentConsumer

    token = await make_token()
    ws = await opened(token)
    await ws.send_json_to({"op": "status", "value": "available"})
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    rows = database_sync_to_async(
        lambda: counting(AgentSocket.objects.filter(agent_id=str(token.pk))).count()
    )
    assert await rows() == 1

    async def gone(self, *args, **kwargs):
        raise ClientDisconnected

    monkeypatch.setattr(AgentConsumer, "send", gone)
    await ws.send_json_to({"op": "ping"})
    await ws.wait(timeout=TIMEOUT)  # the consumer ended by itself

    assert await rows() == 0


async def test_an_error_frame_repeats_at_most_500_characters_of_what_was_sent():
    ws = await opened(await make_token())

    await ws.send_json_to({"op": "subscribe", "topics": ["galaxy:" + "4111 " * 5000]})
    error = await frame(ws)

    assert error["code"] == "bad_topic" and len(error["detail"]) <= 501 and error["detail"].endswith("…")
    assert "4111" not in error["detail"]
    await ws.disconnect()


async def test_a_frame_that_fails_unforeseen_is_told_and_closes_the_socket_which_then_goes(monkeypatch):
    """An error no check foresaw ended the consumer without `disconnect`: its heartbeat kept the agent's
    socket alive, and callbacks were offered to an agent with no socket."""
    from channels_app.consumers import AgentConsumer

    async def broken(self, frame):
        raise RuntimeError("a bug")

    monkeypatch.setattr(AgentConsumer, "_ping", broken)
    token = await make_token()
    ws = await opened(token)
    await ws.send_json_to({"op": "status", "value": "available"})
    await ws.send_json_to({"op": "subscribe", "topics": ["agent:me"]})
    assert (await frame(ws))["op"] == "caught_up"
    assert (
        await database_sync_to_async(counting(AgentSocket.objects.filter(agent_id=str(token.pk))).count)()
        == 1
    )

    await ws.send_json_to({"op": "ping"})
    error = await frame(ws)

    assert error["code"] == "internal_error" and "resume with after" in error["detail"]
    assert await closed_with(ws) == 1011
    await ws.disconnect(timeout=TIMEOUT)  # as the server tells the consumer once the close is through
    assert (
        await database_sync_to_async(counting(AgentSocket.objects.filter(agent_id=str(token.pk))).count)()
        == 0
    )


async def test_a_parked_subscription_leaves_live_delivery_going(monkeypatch):
    """A read model that cannot apply an event parks alone: sockets are fed from the log, not from it."""
    from hub.models import Subscription
    from interactions.projections.threads import ThreadsProjector

    def broken(self, events):
        raise RuntimeError("bug in the threads projector")

    watcher = await opened(await make_token(Role.SUPERVISOR))
    await subscribe(watcher, ["all"])
    monkeypatch.setattr(ThreadsProjector, "apply_all", broken)

    posted = (await ingest(cloud_event(id="while-parked")))[0]
    delivered = await frame(watcher)  # the hub's own events of the request come first (customer, thread)
    while delivered["position"] < posted["position"]:
        delivered = await frame(watcher)

    threads_state = await database_sync_to_async(lambda: Subscription.objects.get(name="threads").state)()
    assert threads_state == "parked"
    assert delivered["op"] == "event" and delivered["position"] == posted["position"]
    await watcher.disconnect()


async def test_a_cursor_past_the_end_of_the_log_is_refused_rather_than_skipping_events():
    last = (await ingest(cloud_event(id="end")))[0]["position"]
    ws = await opened(await make_token(Role.SUPERVISOR))

    await ws.send_json_to({"op": "subscribe", "topics": ["all"], "after": last + 100})
    error = await frame(ws)
    await subscribe(ws, ["all"], after=last)
    live = (await ingest(cloud_event(id="next")))[0]

    assert error["code"] == "bad_after" and str(last) in error["detail"]
    assert (await frame(ws))["position"] == live["position"]
    await ws.disconnect()


async def test_a_binary_frame_gets_an_error_frame():
    ws = await opened(await make_token())
    await ws.send_to(bytes_data=b"\x00")
    assert (await frame(ws))["code"] == "bad_frame"
    await ws.disconnect()


# --- presence -------------------------------------------------------------------------------------------


async def test_status_frames_become_events_and_presence(settings):
    token = await make_token()
    watcher = await opened(await make_token(Role.SUPERVISOR))
    await subscribe(watcher, ["all"])
    ws = await opened(token)

    await ws.send_json_to({"op": "status", "value": "available"})
    message = await frame(watcher)

    assert message["event"]["type"] == "agent.status_changed"
    assert message["event"]["data"] == {"agent_id": str(token.pk), "status": "available", "reason": None}
    presence = await database_sync_to_async(
        lambda: AgentPresence.objects.get(agent_id=str(token.pk)).status
    )()
    assert presence == "available"
    await ws.disconnect()
    await watcher.disconnect()


async def test_a_socket_of_an_agent_who_never_set_a_status_records_nothing_when_it_closes(eager_celery):
    token = await make_token()
    ws = await opened(token)
    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}

    await ws.disconnect(timeout=TIMEOUT)  # the presence expiry runs now (eager Celery)

    stream = database_sync_to_async(lambda: StoredEvent.objects.filter(stream=f"agent-{token.pk}").count())
    assert await stream() == 0  # an agent with no status is offline already: no event in the log for ever


@database_sync_to_async
def presence_of(token) -> tuple[str, list[tuple[str, str | None]]]:
    """The agent's presence row and the statuses (with reasons) on their stream, oldest first."""
    status = AgentPresence.objects.get(agent_id=str(token.pk)).status
    events = StoredEvent.objects.filter(stream=f"agent-{token.pk}").order_by("position")
    return status, [(e.data["status"], e.data["reason"]) for e in events]


async def test_closing_sockets_runs_the_presence_expiry_and_the_agent_goes_offline_when_none_is_left(
    eager_celery, celery_runs
):
    token = await make_token()
    expiry = (jobs.AGENT_PRESENCE_EXPIRE, (str(token.pk),), {})

    def expiries() -> list[tuple]:
        return [run for run in celery_runs if run[0] == jobs.AGENT_PRESENCE_EXPIRE]

    one, two = await opened(token), await opened(token)
    await one.send_json_to({"op": "status", "value": "available"})
    await one.send_json_to({"op": "ping"})
    assert await frame(one) == {"op": "pong"}

    # What a socket's close schedules runs now (eager Celery), through the task's registered name.
    await one.disconnect(timeout=TIMEOUT)
    runs_after_one = expiries()
    after_one = await presence_of(token)
    await two.disconnect(timeout=TIMEOUT)
    runs_after_two = expiries()
    after_two = await presence_of(token)
    # A socket that opens and closes later runs the expiry again; the agent is offline already.
    three = await opened(token)
    await three.disconnect(timeout=TIMEOUT)

    assert runs_after_one == [expiry]
    assert after_one == ("available", [("available", None)])  # the expiry ran; the second socket is open
    assert runs_after_two == [expiry, expiry]
    assert after_two == ("offline", [("available", None), ("offline", "disconnected")])
    assert expiries() == [expiry] * 3
    assert await presence_of(token) == after_two  # running it again changed nothing
    assert await database_sync_to_async(counting(AgentSocket.objects.all()).count)() == 0


async def test_a_thread_and_customer_just_written_may_be_subscribed_before_the_read_models_apply_them(
    settings,
):
    """A client subscribes with the ids its own write answered with: the topics exist from the append on,
    whatever the read models' lag (here, no runner applies them at all)."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    (written,) = await ingest(cloud_event(id="fresh", subject="tel:+15551234567"))
    ws = await opened(await make_token())

    topics = [f"thread:{written['thread_id']}", f"customer:{written['customer_id']}"]
    await ws.send_json_to({"op": "subscribe", "topics": topics, "after": written["position"] - 1})
    message = await frame(ws)

    assert message["op"] == "event" and message["position"] == written["position"], message
    assert (await frame(ws))["op"] == "caught_up"
    await ws.disconnect()

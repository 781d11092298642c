"""The process's fan-out: each event reaches each interested socket once, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

from channels_app.fanout import Fanout
from hub.events import RecordedEvent


def event(position: int, customer: str, thread: str) -> RecordedEvent:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return RecordedEvent(
        position=position,
        source="/test",
        id=f"e{position}",
        type="message.received",
        subject="tel:+15551234567",
        stream=f"thread-{thread}",
        stream_version=position,
        occurred_at=at,
        recorded_at=at,
        schema_version=1,
        data={"channel": "sms", "text": "hi"},
        metadata={"customer_id": customer, "thread_id": thread},
    )


class Socket:
    def __init__(self) -> None:
        self.got: list[int] = []

    def offer(self, event: RecordedEvent, topics: set[str]) -> None:
        self.got.append(event.position)


def test_each_event_reaches_each_subscribed_socket_once_in_order_and_no_other():
    fan = Fanout()
    both, customer_only, other, everything = Socket(), Socket(), Socket(), Socket()
    fan.add(both, {"customer:c1", "thread:t1"})
    fan.add(customer_only, {"customer:c1"})
    fan.add(other, {"customer:c2"})
    fan.add(everything, {"all"})

    fan.offer([event(1, "c1", "t1"), event(2, "c2", "t2"), event(3, "c1", "t3")])

    assert both.got == [1, 3]
    assert customer_only.got == [1, 3]
    assert other.got == [2]
    assert everything.got == [1, 2, 3]


def test_removed_topics_stop_delivery_and_empty_topics_are_forgotten():
    fan = Fanout()
    socket = Socket()
    fan.add(socket, {"customer:c1", "thread:t1"})
    fan.remove(socket, {"customer:c1"})
    fan.offer([event(1, "c1", "t2")])
    fan.offer([event(2, "c1", "t1")])
    fan.remove(socket, {"thread:t1"})
    fan.offer([event(3, "c1", "t1")])
    assert socket.got == [2]
    assert fan._by_topic == {}

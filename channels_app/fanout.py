"""Fan-out of the log to this process's sockets: each event's topics are computed once, then looked up.

One `Fanout` per log tailer (one per event loop, so one per ASGI process) subscribes to the tailer and keeps
an index from topic to the sockets subscribed to it. Offering an event costs one `event_topics` call and a
dictionary lookup per topic, however many sockets are open; asking every socket would cost one call per
socket per event (measured: three quarters of the websocket process's time at 200 sockets and 200 events/s).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol
from weakref import WeakKeyDictionary

from hub.events import RecordedEvent
from hub.tail import LogTailer, tailer
from interactions.topics.routing import event_topics


class Subscriber(Protocol):
    def offer(self, event: RecordedEvent, topics: set[str]) -> None:
        """Take one event (in log order) whose topics meet this subscriber's; must not block."""


class Fanout:
    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscriber]] = defaultdict(set)

    def add(self, subscriber: Subscriber, topics: set[str]) -> None:
        for topic in topics:
            self._by_topic[topic].add(subscriber)

    def remove(self, subscriber: Subscriber, topics: set[str]) -> None:
        for topic in topics:
            subscribers = self._by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._by_topic[topic]

    def offer(self, events: list[RecordedEvent]) -> None:
        """Called by the tailer with each new page of the log, in the event loop."""
        for event in events:
            topics = event_topics(event)
            targets: set[Subscriber] = set()
            for topic in topics:
                subscribers = self._by_topic.get(topic)
                if subscribers:
                    targets |= subscribers
            for subscriber in targets:
                subscriber.offer(event, topics)


_fanouts: WeakKeyDictionary[LogTailer, Fanout] = WeakKeyDictionary()


async def fanout() -> tuple[LogTailer, Fanout]:
    """The running loop's tailer and its fan-out (created and subscribed on first use)."""
    log = tailer()
    fan = _fanouts.get(log)
    if fan is None:
        fan = _fanouts[log] = Fanout()
    await log.subscribe(fan.offer)  # the tailer keeps a set: subscribing again changes nothing
    return log, fan

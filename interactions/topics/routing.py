"""Topics of live delivery: the canonical form of a subscription, and every topic an event is delivered on."""

from __future__ import annotations

import uuid
from typing import Any

from hub.events import RecordedEvent
from interactions.access.models import ApiToken
from interactions.access.rules import may_subscribe_to_everything, may_watch_followups
from interactions.catalogue import AGENT_TYPES, CALLBACK_TYPES, FOLLOWUP_TYPES, HUB_SOURCE
from interactions.placement.models import PlacedThread
from interactions.placement.selectors import survivor_id

# The follow-up queue: every step of every follow-up (opened, breached, closed, a callback requested), and the
# overdue outcome of a callback requested for one (callback.outcome_overdue naming its followup_id).
FOLLOWUPS = "followups"


class TopicError(Exception):
    """A subscription topic that is malformed, unknown, or not for this token. `topic`: the topic refused,
    in its canonical form, when it was well formed (unknown or forbidden), so a client knows which to drop."""

    def __init__(self, code: str, detail: str, topic: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.topic = topic


def subscription_topics(token: ApiToken, topic: object) -> set[str]:
    """The topics a subscription to `topic` listens on: its canonical form (`agent:me` becomes
    `agent:<id>`, a merged customer its survivor) and, for a merged customer, its own id as well, so that a
    resume from before the merge also replays what was placed on it then."""
    canonical = subscription_topic(token, topic)
    kind, _, raw_id = str(topic).partition(":")
    if kind == "customer" and canonical != (given := f"customer:{uuid.UUID(raw_id)}"):
        return {canonical, given}
    return {canonical}


def subscription_request(token: ApiToken, topic: object) -> tuple[str, set[str]]:
    """A subscription as a socket keeps it: the topic as asked for (agent:me as agent:<id>, a customer by
    the id given, merged or not), which an unsubscribe names, and the topics it listens on
    (subscription_topics)."""
    topics = subscription_topics(token, topic)
    kind, _, raw_id = str(topic).partition(":")
    return (f"customer:{uuid.UUID(raw_id)}" if kind == "customer" else next(iter(topics))), topics


def merge_of(event: RecordedEvent) -> tuple[str, str] | None:
    """(the merged customer's topic, the survivor's) when `event` is the hub's record of a merge."""
    if event.type != "customer.merged" or not _from_hub(event):
        return None
    return f"customer:{event.data['merged_id']}", f"customer:{event.data['survivor_id']}"


def merge_followed(topics: set[str], event: RecordedEvent) -> str | None:
    """The survivor's topic a subscription must add when `event` merges one of its customers, else None."""
    merge = merge_of(event)
    if merge is not None and merge[0] in topics and merge[1] not in topics:
        return merge[1]
    return None


def subscription_topic(token: ApiToken, topic: object) -> str:
    """The canonical form of a topic: `agent:me` becomes `agent:<id>`, a merged customer its survivor."""
    if not isinstance(topic, str):
        raise TopicError(
            "bad_topic", "a topic is a string such as customer:<id>, thread:<id>, agent:me, followups or all"
        )
    if topic == "all":
        if not may_subscribe_to_everything(token):
            raise TopicError("forbidden", "only supervisors and admins may subscribe to all", topic)
        return topic
    if topic == FOLLOWUPS:
        if not may_watch_followups(token):
            raise TopicError("forbidden", "only supervisors and admins may subscribe to followups", topic)
        return topic
    if topic == "agent:me":
        return f"agent:{token.pk}"
    kind, _, raw_id = topic.partition(":")
    try:
        key = uuid.UUID(raw_id)
    except ValueError:
        raise TopicError(
            "bad_topic", f"{topic!r} is not customer:<id>, thread:<id>, agent:me, followups or all"
        ) from None
    # Asked of placement's write model, current with every append: a client subscribes with the ids its own
    # write answered with, which the read models may not hold yet.
    if kind == "customer":
        return f"customer:{_survivor(key)}"
    if kind == "thread":
        if not PlacedThread.objects.filter(pk=key).exists():
            raise TopicError("not_found", f"no thread {key}", f"thread:{key}")
        return f"thread:{key}"
    raise TopicError("bad_topic", f"{topic!r} is not customer:<id>, thread:<id>, agent:me, followups or all")


def _survivor(customer_id: uuid.UUID) -> str:
    """The customer, or the one it was merged into (through every later merge)."""
    survivor = survivor_id(customer_id)
    if survivor is None:
        raise TopicError("not_found", f"no customer {customer_id}", f"customer:{customer_id}")
    return survivor


def _from_hub(event: RecordedEvent) -> bool:
    """The hub wrote this event itself (ingestion refuses these sources from anyone else)."""
    return event.source == HUB_SOURCE or event.source.startswith(HUB_SOURCE + "/")


def event_topics(event: RecordedEvent) -> set[str]:
    """Every topic an event is delivered on.

    Only what the hub wrote decides: the placement in the metadata (`customer_id`, `thread_id`) and the data
    of the hub's own events (a merge's `survivor_id` and `merged_id`, an agent's `agent_id`). An
    integration's `data` is the client's word, not a placement: a `data.customer_id` naming another customer
    must not deliver the event to that customer's subscribers.
    """
    from_hub = _from_hub(event)
    placed = [event.metadata, event.data] if from_hub else [event.metadata]
    topics = {"all"}
    for fields in placed:
        for key in ("customer_id", "survivor_id", "merged_id"):
            if fields.get(key):
                topics.add(f"customer:{fields[key]}")
        if fields.get("thread_id"):
            topics.add(f"thread:{fields['thread_id']}")
    agent_id = event.data.get("agent_id")
    if from_hub and agent_id and (event.type in AGENT_TYPES or event.type in CALLBACK_TYPES):
        topics.add(f"agent:{agent_id}")
    if from_hub and (event.type in FOLLOWUP_TYPES or _overdue_for_a_followup(event)):
        topics.add(FOLLOWUPS)
    return topics


def _overdue_for_a_followup(event: RecordedEvent) -> bool:
    """The call a follow-up's callback asked for was accepted and has had no outcome: its supervisors hear."""
    return event.type == "callback.outcome_overdue" and bool(event.data.get("followup_id"))


def event_for_subscriber(event: RecordedEvent) -> dict[str, Any]:
    """The CloudEvent as stored, with the customer and thread the hub placed it on."""
    thread_id = event.metadata.get("thread_id")
    if thread_id is None and _from_hub(event):
        thread_id = event.data.get("thread_id")
    return {
        **event.to_cloudevent(),
        "customer_id": event.metadata.get("customer_id"),
        "thread_id": thread_id,
    }

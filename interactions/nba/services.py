"""Recording an agent's answer to a next best action: `nba.taken` or `nba.dismissed`, appended by the hub."""

from __future__ import annotations

import uuid
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.errors import NotFound
from hub.events import RecordedEvent
from interactions.access.models import ApiToken
from interactions.catalogue import hub_event
from interactions.errors import InvalidRequest
from interactions.idempotency import appended, first_answer, keyed, reused
from interactions.locks import CUSTOMER_LOCKS
from interactions.nba.rules import active_rules
from interactions.placement.models import PlacedThread
from interactions.placement.selectors import survivor_id
from interactions.privacy.redaction import redact_event
from interactions.threads.services import COMMAND_SOURCE

OUTCOMES = {"taken": "nba.taken", "dismissed": "nba.dismissed"}
SAME_ANSWER = ("rule_id", "thread_id", "agent_id", "reason")  # what makes a repeat the same answer


def nba_answer(
    *,
    customer_id: uuid.UUID | str,
    rule_id: str,
    outcome: str,
    actor: ApiToken,
    thread_id: uuid.UUID | str | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> RecordedEvent:
    """Record that `actor` took up or dismissed the rule's recommendation for this customer (and thread); a
    repeat with the same idempotency key records nothing more (interactions.idempotency)."""
    if active_rules().get(rule_id) is None:
        raise NotFound(f"no next best action rule {rule_id!r}")
    with transaction.atomic():
        # The customer's lock, as placement and thread commands take it: a merge cannot move the customer
        # between finding its survivor and recording the answer on it.
        locked: set[str] = set()
        while True:
            customer = survivor_id(customer_id)
            if customer is None:
                raise NotFound(f"no customer {customer_id}")
            if customer in locked:
                break
            log.lock_keys(CUSTOMER_LOCKS, [customer])
            locked.add(customer)
        if thread_id is not None:
            thread = PlacedThread.objects.filter(pk=thread_id).first()
            if thread is None or survivor_id(thread.customer_id) != customer:
                message = f"no thread {thread_id} of customer {customer}"
                raise InvalidRequest(message, extra={"errors": [{"field": "thread_id", "message": message}]})
        data = {
            "rule_id": rule_id,
            "customer_id": customer,
            "thread_id": str(thread_id) if thread_id is not None else None,
            "agent_id": str(actor.pk),
            "reason": reason,
        }
        draft = redact_event(
            hub_event(OUTCOMES[outcome], f"nba-{customer}", data, cause=None, at=timezone.now())
        )
        metadata = {**draft.metadata, "token": str(actor.pk), "customer_id": customer}
        if thread_id is not None:
            metadata["thread_id"] = str(thread_id)
        event = keyed(replace(draft, source=COMMAND_SOURCE, metadata=metadata), actor, idempotency_key)
        # The customer is compared by its survivor: a repeat after a merge of the customer names the
        # survivor, and is the same request; an answer about another customer is not.
        if first := first_answer(event, idempotency_key, compared=SAME_ANSWER):
            return _about(first, customer)
        found = appended(store.append([event])[0], event, idempotency_key, compared=SAME_ANSWER)
        return _about(found, customer)


def _about(found: RecordedEvent, customer: str) -> RecordedEvent:
    """The answer a key's first request recorded, if it was about this customer (or one merged into it)."""
    if survivor_id(found.data["customer_id"]) != customer:
        raise reused()
    return found

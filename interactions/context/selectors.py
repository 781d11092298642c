"""The context answer: a customer's profile, open threads with their recent timeline, recently resolved
threads, pending callbacks, survey summaries and lifetime value, in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from interactions.analytics.selectors import customer_lifetime_value
from interactions.callbacks.selectors import (
    callback_briefs,
    customer_callback_reached_at,
    customer_callbacks_active,
)
from interactions.customers.models import Customer
from interactions.customers.selectors import customer_identifiers, customer_profile
from interactions.nba.selectors import next_best_actions
from interactions.reachability.selectors import reachable_get
from interactions.threads.models import TimelineEntry
from interactions.threads.selectors import (
    customer_threads_recent,
    recent_entries,
    thread_brief,
    timeline_entry,
)

RECENT_ENTRIES = 20  # timeline entries per open thread in a context answer
OPEN_THREADS = 10
RESOLVED_THREADS = 5
IDLE_THREADS = 5  # open threads gone quiet (thread.idled): their objective is not met yet


def _survey_summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    last = answers[-1]
    trend = None
    if len(answers) > 1:
        earlier = sum(a["score"] for a in answers[:-1]) / (len(answers) - 1)
        trend = "up" if last["score"] > earlier else "down" if last["score"] < earlier else "flat"
    return {"last": last["score"], "at": last["at"], "trend": trend, "history": [a["score"] for a in answers]}


def context_get(customer: Customer, now: datetime | None = None) -> dict[str, Any]:
    """Everything an agent, IVR or bot needs before answering, in a fixed number of queries. `reachable` and
    `next_best_actions` are computed for `now` (default: the moment of the read) from stored facts."""
    now = now or timezone.now()
    identifiers = customer_identifiers(customer)
    open_threads, idle, resolved = customer_threads_recent(
        customer.pk, OPEN_THREADS, RESOLVED_THREADS, IDLE_THREADS
    )
    recent = recent_entries([t.pk for t in (*open_threads, *idle)], RECENT_ENTRIES)
    by_thread: dict[Any, list[TimelineEntry]] = {t.pk: [] for t in (*open_threads, *idle)}
    for entry in recent:
        by_thread[entry.thread_id].append(entry)

    def with_recent(thread) -> dict[str, Any]:
        # Oldest first, as a conversation reads; only the most recent entries.
        entries = sorted(by_thread[thread.pk], key=lambda e: (e.occurred_at, e.position))
        return {**thread_brief(thread), "recent": [timeline_entry(e) for e in entries]}

    context = {
        "customer": customer_profile(customer, identifiers),
        "open_threads": [with_recent(t) for t in open_threads],
        "idle_threads": [with_recent(t) for t in idle],
        "recently_resolved": [thread_brief(t) for t in resolved],
        "pending_callbacks": callback_briefs(customer_callbacks_active(customer.pk)),
        "callback_reached_at": customer_callback_reached_at(customer.pk),
        "surveys": {
            metric: _survey_summary(answers) for metric, answers in customer.surveys.items() if answers
        },
        "lifetime_value": customer_lifetime_value(customer.pk),
        "reachable": reachable_get(identifiers, customer.timezone or None, now),
    }
    # Rules read the whole answer (reachable included), so they come last.
    context["next_best_actions"] = next_best_actions(context, now)
    return context

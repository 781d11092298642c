"""The customers projection: customers and their identifiers, profiles, contact counts and survey answers.

Decisions (which customer, which merge) were made at placement and recorded in the log, so replaying gives
the same rows; `tests/hub/test_projections.py` checks that a rebuild equals the incremental state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.catalogue import CONTACT_TYPES, activity_at, automated, created_by, identifiers_recorded
from interactions.customers.models import Customer, CustomerIdentifier
from interactions.identity.identifiers import parse_identifier

SURVEY_HISTORY = 5  # answers kept per metric, for the context's summary and trend
CUSTOMER_FIELDS = [
    "merged_into", "name", "language", "timezone", "segment", "birthday", "preferences", "consent",
    "stated_at", "channel_counts", "first_contact_at", "last_contact_at", "surveys",
]  # fmt: skip


class CustomerRows(UnitOfWork):
    tables = {"customer": (Customer, CUSTOMER_FIELDS), "identifier": (CustomerIdentifier, ["customer"])}
    kept = ("customer",)

    def customer(self, customer_id: Any) -> Customer:
        """The customer, or the survivor it was merged into."""
        customer = self.get("customer", customer_id)
        return self.customer(customer.merged_into_id) if customer.merged_into_id else customer


def _add_identifiers(rows: CustomerRows, customer_id: str, uris: list[str], at: datetime) -> None:
    rows.load("identifier", uris)  # no query unless a merge in this page wrote the prefetched rows back
    for uri in uris:
        row = rows.rows["identifier"].get(uri)
        if row is None:
            identifier = CustomerIdentifier(
                uri=uri, kind=parse_identifier(uri).kind, customer_id=customer_id, added_at=at
            )
            rows.add("identifier", uri, identifier)
        elif str(row.customer_id) != str(customer_id):
            row.customer_id = customer_id
            rows.touch("identifier", uri)


def apply_customer_created(rows: CustomerRows, event: RecordedEvent) -> None:
    customer_id = event.data["customer_id"]
    rows.add("customer", customer_id, Customer(id=customer_id, created_at=event.occurred_at))
    _add_identifiers(rows, customer_id, event.data["identifiers"], event.occurred_at)


def apply_customer_identified(rows: CustomerRows, event: RecordedEvent) -> None:
    _add_identifiers(rows, event.data["customer_id"], [event.data["identifier"]], event.occurred_at)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x) if (a or b) else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x) if (a or b) else None


def apply_customer_merged(rows: CustomerRows, event: RecordedEvent) -> None:
    """Rare, and it moves rows outside the unit of work: write it, merge with SQL, start afresh."""
    rows.flush()
    survivor = Customer.objects.get(pk=event.data["survivor_id"])
    merged = Customer.objects.get(pk=event.data["merged_id"])
    CustomerIdentifier.objects.filter(customer=merged).update(customer=survivor)
    Customer.objects.filter(merged_into=merged).update(merged_into=survivor)
    for name in ("name", "language", "timezone", "segment", "birthday"):
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
    for field in STATED:
        _merge_stated(survivor, merged, field)
    counts = dict(survivor.channel_counts)
    for channel, n in merged.channel_counts.items():
        counts[channel] = counts.get(channel, 0) + n
    survivor.channel_counts = counts
    survivor.first_contact_at = _earlier(survivor.first_contact_at, merged.first_contact_at)
    survivor.last_contact_at = _later(survivor.last_contact_at, merged.last_contact_at)
    surveys: dict[str, list] = {}
    for metric in set(survivor.surveys) | set(merged.surveys):
        answers = survivor.surveys.get(metric, []) + merged.surveys.get(metric, [])
        surveys[metric] = sorted(answers, key=_answered)[-SURVEY_HISTORY:]
    survivor.surveys = surveys
    survivor.save()
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into"])


def apply_profile_updated(rows: CustomerRows, event: RecordedEvent) -> None:
    customer = rows.customer(event.metadata["customer_id"])
    data = event.data
    for name in ("name", "language", "timezone", "segment"):
        if data.get(name) is not None:
            setattr(customer, name, data[name])
    if data.get("birthday") is not None:
        customer.birthday = date.fromisoformat(data["birthday"])
    for field in STATED:
        if data.get(field) is not None:
            _state(customer, field, data[field], event.occurred_at)
    rows.touch("customer", customer.pk)


STATED = ("preferences", "consent")  # kept key by key, each as its latest statement says


def _state(customer: Customer, field: str, values: dict[str, Any], at: datetime) -> None:
    """Each key of `values` as the customer's `field` now, unless a later statement of it was applied."""
    current, times = dict(getattr(customer, field)), dict(customer.stated_at.get(field, {}))
    when = at.astimezone(UTC).isoformat(timespec="microseconds")  # compared as text: one fixed form
    for key, value in values.items():
        if times.get(key, "") <= when:
            current[key], times[key] = value, when
    setattr(customer, field, current)
    customer.stated_at = {**customer.stated_at, field: times}


def _merge_stated(survivor: Customer, merged: Customer, field: str) -> None:
    """The survivor's `field` after a merge: per key, the later statement of the two customers; the
    survivor's where either was not timed (rows built before statements were)."""
    ours, theirs = getattr(survivor, field), getattr(merged, field)
    our_times, their_times = survivor.stated_at.get(field, {}), merged.stated_at.get(field, {})
    values, times = {**theirs, **ours}, {**their_times, **our_times}
    for key in theirs.keys() & ours.keys():
        if key in our_times and key in their_times and their_times[key] > our_times[key]:
            values[key], times[key] = theirs[key], their_times[key]
    setattr(survivor, field, values)
    survivor.stated_at = {**survivor.stated_at, field: times}


def apply_contact(rows: CustomerRows, event: RecordedEvent) -> None:
    """A message or call with the customer: their contact count on its channel and first and last contact.

    An auto-reply or a bounce is no contact: the customer did not write it."""
    if automated(event.data):
        return
    customer = rows.customer(event.metadata["customer_id"])
    channel = event.data.get("channel") or ("voice" if event.type.startswith("call.") else "internal")
    customer.channel_counts = {
        **customer.channel_counts,
        channel: customer.channel_counts.get(channel, 0) + 1,
    }
    # As threads count it: never later than its arrival (a sender's clock a year fast made the last contact
    # a year ahead, for good, and its first contact a later one).
    at = activity_at(event)
    customer.first_contact_at = _earlier(customer.first_contact_at, at)
    customer.last_contact_at = _later(customer.last_contact_at, at)
    rows.touch("customer", customer.pk)


def _answered(answer: dict[str, Any]) -> tuple[datetime, int]:
    """The order of survey answers: by when they were given (never after they arrived), ties by position."""
    return datetime.fromisoformat(answer["at"]), answer["position"]


def apply_survey_answered(rows: CustomerRows, event: RecordedEvent) -> None:
    """The customer's last answers per metric, oldest first by when they were given, for the context's
    summary and trend. An answer delivered late lands in its place: it was appended as the latest, so a
    bad score from two days ago, arriving after today's good one, became "the latest answer"."""
    customer = rows.customer(event.metadata["customer_id"])
    data = event.data
    answers = customer.surveys.get(data["metric"], [])
    answer = {"score": data["score"], "at": activity_at(event).isoformat(), "position": event.position}
    ordered = sorted([*answers, answer], key=_answered)
    customer.surveys = {**customer.surveys, data["metric"]: ordered[-SURVEY_HISTORY:]}
    rows.touch("customer", customer.pk)


class CustomersProjector(RowProjector):
    name = "customers"
    # 2: preferences and consent kept key by key as their latest statement says (stated_at); first and last
    # contact never later than the contact's arrival. 3: survey answers in the order they were given (never
    # after they arrived), not the order they arrived in
    version = 3
    unit = CustomerRows
    handlers = {
        "customer.created": apply_customer_created,
        "customer.identified": apply_customer_identified,
        "customer.merged": apply_customer_merged,
        "customer.profile_updated": apply_profile_updated,
        **dict.fromkeys(CONTACT_TYPES, apply_contact),
        "survey.answered": apply_survey_answered,
    }
    tables = (CustomerIdentifier, Customer)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        customer_ids = set()
        for event in events:
            for source in (event.metadata, event.data):
                for key in ("customer_id", "survivor_id", "merged_id"):
                    if source.get(key):
                        customer_ids.add(str(source[key]))
        unit.load("customer", customer_ids - created_by(events)[0])
        unit.load("identifier", identifiers_recorded(events))

    def reset(self) -> None:
        Customer.objects.update(merged_into=None)  # the self-reference, before the rows go
        super().reset()

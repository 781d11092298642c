"""Input and output serializers of the REST API (also the OpenAPI description)."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from hub import storable
from interactions.analytics.selectors import (
    GRANULARITIES,
    GROUPS,
    JOURNEY_GROUPS,
    MOST_PAGE_LINES,
    PAGE_LINES,
)
from interactions.api.openapi import IDENTIFIER_DESCRIPTION, MAX_POSITION
from interactions.callbacks.services import OUTCOMES, REMARK_MAX
from interactions.catalogue import ThreadStatus
from interactions.catalogue.currencies import ISO_4217
from interactions.catalogue.schemas import CHANNELS, FOLLOWUP_ACTIONS, SURVEY_RANGES
from interactions.catalogue.zones import iana_zone
from interactions.identity import identifiers


class IngestResultSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = serializers.CharField()
    position = serializers.IntegerField()
    duplicate = serializers.BooleanField(help_text="True when this (source, id) was already in the log.")
    customer_id = serializers.UUIDField(help_text="The customer the event resolved to.")
    thread_id = serializers.UUIDField(allow_null=True, help_text="Its thread (null for profile updates).")


class BatchIngestSerializer(serializers.Serializer):
    results = IngestResultSerializer(many=True)


class WholeNumberField(serializers.IntegerField):
    """A query's integer in ASCII digits, as the lists read `limit` and `offset`: DRF's own also took `1.0`,
    ` 1`, a full-width one (U+FF11) and an Arabic-Indic three (U+0663)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(r"-?[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class LogQuerySerializer(serializers.Serializer):
    after = WholeNumberField(
        min_value=0, max_value=MAX_POSITION, default=0, help_text="Return events after this position."
    )
    limit = WholeNumberField(
        min_value=1,
        max_value=settings.THREADLINE_MAX_BATCH,
        default=100,
        help_text=f"At most this many (<= {settings.THREADLINE_MAX_BATCH}, THREADLINE_MAX_BATCH).",
    )


class LoggedEventSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    stream = serializers.CharField()
    stream_version = serializers.IntegerField()
    schema_version = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    metadata = serializers.DictField()
    event = serializers.DictField(help_text="The CloudEvent as stored (card data masked).")


class LogPageSerializer(serializers.Serializer):
    events = LoggedEventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read on.")
    has_more = serializers.BooleanField()


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    version = serializers.IntegerField()
    current = serializers.BooleanField()
    description = serializers.CharField()
    data_schema = serializers.DictField()


# --- Context and threads ---


class TimelineEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    type = serializers.CharField()
    channel = serializers.CharField()
    direction = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    agent_id = serializers.CharField(allow_null=True)
    details = serializers.DictField()


class ThreadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    customer_id = serializers.UUIDField()
    topic = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=ThreadStatus.values,
        help_text="open; resolved; idle: open, but no activity for the continuation window (thread.idled) "
        "until its next activity.",
    )
    opened_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    assigned_agent = serializers.CharField(allow_null=True)
    channels = serializers.ListField(child=serializers.CharField())
    event_count = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Pass as expected_version to commands.")


class OpenThreadSerializer(ThreadSerializer):
    recent = TimelineEntrySerializer(many=True)


class ProfileSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    identifiers = serializers.ListField(child=serializers.CharField())
    name = serializers.CharField(allow_null=True)
    language = serializers.CharField(allow_null=True)
    timezone = serializers.CharField(allow_null=True)
    segment = serializers.CharField(allow_null=True)
    birthday = serializers.DateField(allow_null=True)
    preferences = serializers.DictField()
    consent = serializers.DictField()
    channel_counts = serializers.DictField(child=serializers.IntegerField())
    first_contact_at = serializers.DateTimeField(allow_null=True)
    last_contact_at = serializers.DateTimeField(allow_null=True)


class SurveySummarySerializer(serializers.Serializer):
    last = serializers.IntegerField()
    at = serializers.CharField()
    trend = serializers.ChoiceField(choices=["up", "down", "flat"], allow_null=True)
    history = serializers.ListField(child=serializers.IntegerField())


class CallbackSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    state = serializers.ChoiceField(
        choices=["scheduled", "offered", "accepted", "completed", "expired", "cancelled"]
    )
    phone = serializers.CharField(help_text="The number to dial, E.164.")
    reason = serializers.CharField(allow_blank=True)
    timezone = serializers.CharField(
        allow_null=True, help_text="The customer's IANA zone when it was requested, if known."
    )
    requested_timezone = serializers.CharField(
        allow_null=True,
        help_text="The zone the request named: calling hours are read in it, else in the customer's current "
        "profile zone.",
    )
    requested_at = serializers.DateTimeField()
    not_before = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    due_at = serializers.DateTimeField(help_text="When the current attempt is (or was) due.")
    attempt = serializers.IntegerField()
    offer = serializers.IntegerField(
        help_text="Offers made in this attempt: while offered, the number of the offer standing (what accept "
        "and decline may name with attempt)."
    )
    agent_id = serializers.CharField(allow_null=True, help_text="The agent offered it, or calling.")
    offer_expires_at = serializers.DateTimeField(allow_null=True)
    accepted_at = serializers.DateTimeField(
        allow_null=True, help_text="When the latest attempt was accepted (the call under way, if accepted)."
    )
    overdue_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When that accepted call's outcome was declared overdue (callback.outcome_overdue, "
        "THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES after it was accepted); null if it is not.",
    )
    outcomes = serializers.ListField(
        child=serializers.DictField(), help_text="Earlier attempts, oldest first."
    )
    version = serializers.IntegerField()
    position = serializers.IntegerField(help_text="The log position of its latest step (for min_position).")


class ReachableIdentifierSerializer(serializers.Serializer):
    identifier = serializers.CharField(help_text="The number or address this is about.")
    open = serializers.BooleanField(help_text="Whether this one may be contacted on the channel now.")
    until = serializers.DateTimeField(allow_null=True, help_text="WhatsApp: when its window closes.")
    at = serializers.DateTimeField(
        allow_null=True, help_text="When the deciding fact happened (last message, opt-out, bounce)."
    )
    why = serializers.CharField()


class ReachableChannelSerializer(serializers.Serializer):
    open = serializers.BooleanField(
        allow_null=True,
        help_text="Whether the hub may contact the customer on this channel now; null when it cannot be told "
        "(voice without a known time zone).",
    )
    until = serializers.DateTimeField(
        allow_null=True,
        help_text="Open until then (WhatsApp's window, the end of calling hours); null: no end.",
    )
    next_open = serializers.DateTimeField(allow_null=True, help_text="Voice: when calling hours open next.")
    why = serializers.CharField(help_text='The reason, for a person ("closes in 40 min, 24 h after ...").')
    identifiers = ReachableIdentifierSerializer(
        many=True,
        help_text="The identifiers that matter: WhatsApp numbers, opted-out numbers, bounced addresses.",
    )


class ReachableSerializer(serializers.Serializer):
    """Where the customer can be reached at the moment of the read, computed from facts in the log."""

    whatsapp = ReachableChannelSerializer(
        help_text="Open until 24 h after their last inbound WhatsApp message."
    )
    sms = ReachableChannelSerializer(help_text="Closed for a number that texted STOP (and not START since).")
    email = ReachableChannelSerializer(
        help_text="Closed for an address that hard-bounced (until they write)."
    )
    voice = ReachableChannelSerializer(
        help_text="Inside THREADLINE_CUSTOMER_CALLING_HOURS in their time zone."
    )


class NextBestActionSerializer(serializers.Serializer):
    id = serializers.CharField(
        help_text="The rule's id (answer it with POST .../next-best-actions/<id>/taken)."
    )
    priority = serializers.IntegerField(help_text="Higher first.")
    do = serializers.CharField(help_text="What to do.")
    why = serializers.CharField(help_text="Why, from the context.")
    facts = serializers.DictField(help_text="What the rule found (for machines), e.g. score, minutes_left.")


class LifetimeValueSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="An ISO 4217 code.")
    value = serializers.CharField(help_text="A decimal string with 4 decimals (may be negative).")


class ContextSerializer(serializers.Serializer):
    customer = ProfileSerializer()
    open_threads = OpenThreadSerializer(many=True)
    idle_threads = OpenThreadSerializer(
        many=True,
        help_text="The 5 most recently active threads gone idle (thread.idled): open, quiet for the "
        "continuation window, their objective not met yet; with their recent entries.",
    )
    recently_resolved = ThreadSerializer(many=True)
    pending_callbacks = CallbackSerializer(many=True)
    callback_reached_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When a callback last reached them (its call completed), on any thread; null if none has.",
    )
    surveys = serializers.DictField(child=SurveySummarySerializer())
    lifetime_value = LifetimeValueSerializer(
        many=True,
        help_text="What the customer's outcomes added, per currency (never converted): sales, upgrades and "
        "retentions less refunds, with those of customers merged into them; by currency code. From the "
        "analytics read model.",
    )
    reachable = ReachableSerializer()
    next_best_actions = NextBestActionSerializer(
        many=True, help_text="Ranked recommendations from the rules file (THREADLINE_NBA_RULES)."
    )


class ContextQuerySerializer(serializers.Serializer):
    identifier = serializers.CharField(max_length=identifiers.MAX_LENGTH, help_text=IDENTIFIER_DESCRIPTION)


class ThreadListQuerySerializer(serializers.Serializer):
    customer = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(
        choices=ThreadStatus.values,
        required=False,
        help_text="open, resolved, or idle (open, but no activity for the continuation window).",
    )
    channel = serializers.ChoiceField(choices=[*CHANNELS, "callback"], required=False)
    agent = serializers.UUIDField(
        required=False, help_text="Only threads assigned to this agent id (an agent's desk)."
    )


class ThreadDetailSerializer(ThreadSerializer):
    timeline = TimelineEntrySerializer(many=True)
    timeline_count = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)


class CommandInputSerializer(serializers.Serializer):
    expected_version = serializers.IntegerField(
        min_value=0, required=False, help_text="The thread version you saw; 409 if it moved on."
    )


class ReasonInputSerializer(CommandInputSerializer):
    reason = serializers.CharField(max_length=2000, required=False)


class AssignInputSerializer(CommandInputSerializer):
    agent_id = serializers.UUIDField(required=False, help_text="An agent token's id; default: yourself.")


class NoteInputSerializer(CommandInputSerializer):
    text = serializers.CharField(max_length=20_000)


class NbaAnswerInputSerializer(serializers.Serializer):
    thread_id = serializers.UUIDField(required=False, help_text="The thread it was shown on, if any.")
    reason = serializers.CharField(max_length=2000, required=False, help_text="Why (card data masked).")


class NbaAnswerResultSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="The event in the log.")
    type = serializers.ChoiceField(choices=["nba.taken", "nba.dismissed"])
    rule_id = serializers.CharField()
    customer_id = serializers.UUIDField(help_text="The customer (a merged id's survivor).")
    thread_id = serializers.UUIDField(allow_null=True)


class CommandResultSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="The command's event in the log (pass as min_position).")
    type = serializers.CharField()
    thread = ThreadSerializer(
        allow_null=True, help_text="Null if the threads read model had not applied the command in time."
    )


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset (a bare local time would be read in the wrong zone),
    name a moment that exists, and lie in the range of times the hub stores (see hub.storable)."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. 2026-11-23T15:00:00+01:00.",
        "impossible": "No such moment: a day, hour, minute or second is out of its range.",
        "range": f"Give a time from {storable.TIME_RANGE}.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well-formed but impossible: 2026-02-30, T25:00, T12:99
                self.fail("impossible")
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
            if parsed is not None and storable.time_problem(parsed):
                self.fail("range")
        return super().to_internal_value(value)


class CallbackRequestSerializer(serializers.Serializer):
    identifier = serializers.CharField(
        max_length=identifiers.MAX_LENGTH, help_text="Who to call back. " + IDENTIFIER_DESCRIPTION
    )
    phone = serializers.CharField(max_length=64, help_text="The number to call (tel:+4930... or +4930...).")
    thread_id = serializers.UUIDField(required=False, help_text="Default: the thread rules choose.")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    topic = serializers.CharField(max_length=120, required=False)
    at = AwareDateTimeField(
        required=False, help_text="ISO 8601 with an offset; default: as soon as possible."
    )
    window_end = AwareDateTimeField(required=False, help_text="Give up after this (default: 24 h).")
    timezone = serializers.CharField(max_length=64, required=False, help_text="The customer's IANA zone.")


class CallbackListQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["scheduled", "offered", "accepted", "completed", "expired", "cancelled"], required=False
    )
    agent = serializers.UUIDField(required=False, help_text="An agent token's id.")


class CallbackReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=REMARK_MAX, required=False)


class CallbackAnswerSerializer(serializers.Serializer):
    """The offer answered, as its `callback.offered` event named it: with them, a retried answer to an offer
    the callback has moved past is never taken for an answer to the next one."""

    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)
    offer = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class CallbackDeclineSerializer(CallbackAnswerSerializer):
    reason = serializers.CharField(max_length=REMARK_MAX, required=False)


class CallbackOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=list(OUTCOMES))
    note = serializers.CharField(max_length=REMARK_MAX, required=False)


# --- Measures -----------------------------------------------------------------------------------------------


def _in_storable_range(value):
    if not storable.EARLIEST_TIME <= value <= storable.LATEST_TIME:
        raise serializers.ValidationError(
            f"must be from {storable.EARLIEST_TIME.date()} to {storable.LATEST_TIME.date()}"
        )
    return value


def _zone_name(value: str) -> str:
    try:
        iana_zone(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from exc
    return value


_INSTANT = re.compile(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
)


class InstantField(serializers.DateTimeField):
    """An ISO 8601 instant, written as RFC 3339 writes one (a `T`, an optional offset), and nothing around it:
    the parser underneath reads `2026-11-20T00:00:00<NUL>Z` as a time."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _INSTANT.match(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm[:ss[.uuuuuu]][Z|+hh:mm]")
        return super().to_internal_value(value)


_MEASURE_QUERY = {
    "from": InstantField(
        required=False,
        validators=[_in_storable_range],
        help_text="From the hour of this instant (rounded down to the whole hour; without an offset, UTC). "
        "Default: 7 days before `to`.",
    ),
    "to": InstantField(
        required=False,
        validators=[_in_storable_range],
        help_text="Up to, not including, the hour of this instant (rounded down to the whole hour). Default: "
        "the end of the current hour.",
    ),
    "granularity": serializers.ChoiceField(
        choices=list(GRANULARITIES),
        required=False,
        help_text="Buckets of an hour, a day or a week (from Monday) in `timezone` (default day). One read "
        "covers at most 744 hours, 732 days or 530 weeks.",
    ),
    "timezone": serializers.CharField(
        required=False,
        max_length=64,
        validators=[_zone_name],
        help_text="The IANA zone days and weeks start in (default UTC). Answers are kept per UTC hour: in a "
        "zone whose offset is not whole hours, a day starts at the UTC hour its midnight falls in.",
    ),
    "group_by": serializers.ChoiceField(
        choices=list(GROUPS),
        required=False,
        help_text="One figure per value of this dimension (blank: null).",
    ),
    "limit": serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MOST_PAGE_LINES,
        help_text=f"At most this many `rows` in one answer (default {PAGE_LINES}, at most "
        f"{MOST_PAGE_LINES}), in whole buckets: a bucket has a line per group (and metric, currency or step),"
        " and an answer at least one bucket. The rest come in the pages `next` gives.",
    ),
    "cursor": serializers.CharField(
        required=False,
        max_length=32,
        help_text="The page from this bucket on: what `next` (and the `Link` header) of the page before "
        "carries, with the same query. Without it, the first page.",
    ),
}

SurveyMeasuresQuerySerializer = type(
    "SurveyMeasuresQuerySerializer",
    (serializers.Serializer,),
    {
        **_MEASURE_QUERY,
        "metric": serializers.ChoiceField(choices=list(SURVEY_RANGES), required=False),
    },
)


class SurveyFiguresSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    metric = serializers.ChoiceField(choices=list(SURVEY_RANGES))
    answers = serializers.IntegerField()
    distribution = serializers.DictField(child=serializers.IntegerField(), help_text="Answers per score.")
    mean = serializers.FloatField(allow_null=True)
    top2_rate = serializers.FloatField(allow_null=True, help_text="Share of the two best scores (0 to 1).")
    bottom2_rate = serializers.FloatField(
        allow_null=True, help_text="Share of the two worst scores (0 to 1)."
    )
    promoters_rate = serializers.FloatField(allow_null=True, required=False, help_text="NPS: 9-10.")
    passives_rate = serializers.FloatField(allow_null=True, required=False, help_text="NPS: 7-8.")
    detractors_rate = serializers.FloatField(allow_null=True, required=False, help_text="NPS: 0-6.")
    nps = serializers.FloatField(
        allow_null=True,
        required=False,
        help_text="NPS: promoters' minus detractors' percentage (-100 to 100).",
    )


class SurveyBucketSerializer(SurveyFiguresSerializer):
    bucket = serializers.CharField(help_text="When the bucket starts, in `timezone`.")


def _measures(name: str, bucket: type[serializers.Serializer], total: type[serializers.Serializer]):
    fields = {
        "from": serializers.CharField(help_text="The first hour summed (UTC)."),
        "to": serializers.CharField(help_text="The hour after the last one summed (UTC)."),
        "granularity": serializers.CharField(),
        "timezone": serializers.CharField(),
        "group_by": serializers.CharField(allow_null=True),
        "rows": bucket(many=True, help_text="Per bucket, group and metric; buckets with nothing left out."),
        "totals": total(many=True, help_text="Per group and metric over the whole range."),
        "next": serializers.URLField(
            allow_null=True,
            help_text="The address of the next page of `rows` (also in the `Link` header, as CSV too); null "
            "on the last. Every page has the whole range's `totals` and other tables (CSV: the last only).",
        ),
    }
    return type(name, (serializers.Serializer,), fields)


SurveyMeasuresSerializer = _measures(
    "SurveyMeasuresSerializer", SurveyBucketSerializer, SurveyFiguresSerializer
)

# A copy: DRF's serializer metaclass pops the declared fields out of the dict it is given.
HandlingMeasuresQuerySerializer = type(
    "HandlingMeasuresQuerySerializer", (serializers.Serializer,), {**_MEASURE_QUERY}
)


def _mean_seconds(what: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=f"Mean seconds {what} (null: none).")


class HandlingFiguresSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    calls = serializers.IntegerField(help_text="Calls that ended (`call.ended`).")
    voice_handling_seconds = _mean_seconds("a call lasted (its `duration_seconds`)")
    transfers = serializers.IntegerField(help_text="Calls transferred (`call.transferred`).")
    first_responses = serializers.IntegerField(help_text="Threads that got their first response.")
    first_response_seconds = _mean_seconds("from the customer's first message or call to the first answer")
    resolutions = serializers.IntegerField(help_text="Threads resolved for the first time.")
    resolution_seconds = _mean_seconds("from a thread's opening to its first resolution")
    digital_handled = serializers.IntegerField(help_text="Non-voice threads resolved, assigned before.")
    digital_handling_seconds = _mean_seconds(
        "from a non-voice thread's first assignment to its first resolution"
    )
    reopens = serializers.IntegerField(help_text="Resolved threads reopened.")
    first_contact_resolutions = serializers.IntegerField(
        help_text="Of `resolutions`: resolved after one contact and neither reopened nor followed by another "
        "thread on the same topic within THREADLINE_FCR_DAYS (7) days."
    )
    fcr_rate = serializers.FloatField(allow_null=True, help_text="first_contact_resolutions / resolutions.")
    repeat_contacts = serializers.IntegerField(
        help_text="Threads whose first contact came within THREADLINE_FCR_DAYS (7) days of the customer's "
        "last contact about the same topic on another thread."
    )


class HandlingBucketSerializer(HandlingFiguresSerializer):
    bucket = serializers.CharField(help_text="When the bucket starts, in `timezone`.")


class CallbackAttemptSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    attempt = serializers.IntegerField(help_text="1: the first call; 2: the first retry; ...")
    calls = serializers.IntegerField(help_text="Callback calls of this attempt whose outcome was reported.")
    completed = serializers.IntegerField(help_text="They reached the customer (callback.completed).")
    no_answer = serializers.IntegerField()
    busy = serializers.IntegerField()
    failed = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="completed / calls.")


HandlingMeasuresSerializer = type(
    "HandlingMeasuresSerializer",
    (_measures("HandlingFiguresByBucketSerializer", HandlingBucketSerializer, HandlingFiguresSerializer),),
    {
        "callback_attempts": CallbackAttemptSerializer(
            many=True,
            help_text="Per group and attempt over the whole range, by when the outcome was reported.",
        )
    },
)


def _mean(what: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=f"{what} (null: no thread).")


class EffortFiguresSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    threads = serializers.IntegerField(help_text="Threads first resolved.")
    contacts = _mean("Mean contacts from the customer per thread")
    switches = _mean("Mean times the customer changed channel")
    transfers = _mean("Mean calls transferred")
    repeats = _mean("Mean contacts after the first")
    effort_index = _mean("Mean effort index, 0 (none) to 100")
    with_ces = serializers.IntegerField(help_text="Of those threads, how many had a CES answer.")
    effort_index_with_ces = _mean("Mean effort index of the threads with a CES answer")
    ces_mean = _mean("Mean CES of those threads (7: the least effort)")
    agreement = serializers.FloatField(
        allow_null=True,
        help_text="Pearson's r between the effort index and 8 - CES over those threads (1: they agree; null: "
        "fewer than two, or no spread).",
    )


class EffortBucketSerializer(EffortFiguresSerializer):
    bucket = serializers.CharField(help_text="When the bucket starts, in `timezone`.")


EffortMeasuresSerializer = _measures(
    "EffortMeasuresSerializer", EffortBucketSerializer, EffortFiguresSerializer
)

JourneyMeasuresQuerySerializer = type(
    "JourneyMeasuresQuerySerializer",
    (serializers.Serializer,),
    {
        **_MEASURE_QUERY,
        "group_by": serializers.ChoiceField(
            choices=list(JOURNEY_GROUPS),
            required=False,
            help_text="Journeys are counted per objective: by its topic or its customer's segment (blank: "
            "null).",
        ),
    },
)


class StepFiguresSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    step = serializers.CharField(
        help_text="A channel (`sms`, `voice`, ...), `<channel>:self-service`, `callback`, or `start`."
    )
    entries = serializers.IntegerField(help_text="Visits to the step (contacts in a row there are one).")
    waits = serializers.IntegerField(help_text="Answers the customer waited for at this step.")
    mean_wait_seconds = _mean_seconds("from the customer's first unanswered message to the answer")
    transfers = serializers.IntegerField(help_text="Calls transferred at this step.")
    unanswered = serializers.IntegerField(
        help_text="Dead-ends: a message left unanswered past THREADLINE_RESPONSE_SLA_MINUTES (60), counted "
        "in the hour the SLA passed."
    )
    abandoned = serializers.IntegerField(help_text="Dead-ends: inbound calls that reached no one.")
    idled = serializers.IntegerField(
        help_text="Dead-ends: threads that went idle unresolved here, with no callback still to make."
    )
    dead_ends = serializers.IntegerField(help_text="unanswered + abandoned + idled.")
    bounced = serializers.IntegerField(
        allow_null=True,
        help_text="Self-service steps: visits followed by an assisted contact on the same thread within "
        "THREADLINE_BOUNCE_HOURS (24) (null for other steps).",
    )
    bounce_rate = serializers.FloatField(allow_null=True, help_text="bounced / entries (self-service steps).")


class StepBucketSerializer(StepFiguresSerializer):
    bucket = serializers.CharField(help_text="When the bucket starts, in `timezone`.")


# "from" is a Python keyword, so the fields are given as a dict.
TransitionSerializer = type(
    "TransitionSerializer",
    (serializers.Serializer,),
    {
        "group": serializers.CharField(
            allow_null=True, help_text="The value of `group_by` (null: not known)."
        ),
        "transitions": serializers.IntegerField(
            help_text="Customers who moved from the one step to the other."
        ),
        "mean_seconds": _mean_seconds(
            "from the last contact at the one step to the first at the other (null from `start`)"
        ),
        "median_seconds": serializers.FloatField(
            allow_null=True, help_text='Their median, read from bins (exact to the bin; README "Journeys").'
        ),
        "from": serializers.CharField(help_text="The step they left (`start`: their journey began)."),
        "to": serializers.CharField(help_text="The step they went to."),
    },
)


class ChokePointSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    by = serializers.ChoiceField(choices=["wait", "transfers"], help_text="What the step is ranked by.")
    rank = serializers.IntegerField(help_text="1: the longest mean wait, or the most transfers.")
    step = serializers.CharField()
    value = serializers.FloatField(help_text="The mean wait in seconds, or the transfers.")


JourneyMeasuresSerializer = type(
    "JourneyMeasuresSerializer",
    (_measures("JourneyStepsSerializer", StepBucketSerializer, StepFiguresSerializer),),
    {
        "transitions": TransitionSerializer(many=True, help_text="Per group, over the whole range."),
        "choke_points": ChokePointSerializer(many=True, help_text="Per group: the top 3 by each."),
    },
)


def _currency_code(value: str) -> str:
    # The value is not repeated: a query parameter may hold anything, a card number included.
    if value not in ISO_4217:
        raise serializers.ValidationError("an active ISO 4217 code in upper case, such as EUR or USD")
    return value


OutcomeMeasuresQuerySerializer = type(
    "OutcomeMeasuresQuerySerializer",
    (serializers.Serializer,),
    {
        **_MEASURE_QUERY,
        "currency": serializers.CharField(
            required=False,
            max_length=3,
            validators=[_currency_code],
            help_text="Only the outcomes in this currency (an ISO 4217 code). Default: every currency, each "
            "on its own rows (values are never converted or summed across currencies).",
        ),
    },
)


def _money(what: str) -> serializers.CharField:
    return serializers.CharField(
        help_text=f"{what}: a decimal string with 4 decimals, in `currency` (exact: never a float)."
    )


class OutcomeFiguresSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not known).")
    currency = serializers.CharField(help_text="The ISO 4217 code every value of the row is in.")
    sales = serializers.IntegerField(help_text="`outcome.recorded` of kind sale.")
    sale_value = _money("Their value")
    upgrades = serializers.IntegerField(help_text="Of kind upgrade.")
    upgrade_value = _money("Their value")
    retentions = serializers.IntegerField(help_text="Of kind retention.")
    retention_value = _money("Their value (in neither new business figure)")
    cancellations = serializers.IntegerField(help_text="Of kind cancellation.")
    cancellation_value = _money("Their value")
    refunds = serializers.IntegerField(help_text="Of kind refund.")
    refund_value = _money("Their value")
    new_business = _money("sale_value + upgrade_value")
    net_new_business = _money(
        "sale_value + upgrade_value - refund_value - cancellation_value (may be negative)"
    )


class OutcomeBucketSerializer(OutcomeFiguresSerializer):
    bucket = serializers.CharField(help_text="When the bucket starts, in `timezone`.")


OutcomeMeasuresSerializer = _measures(
    "OutcomeMeasuresSerializer", OutcomeBucketSerializer, OutcomeFiguresSerializer
)


# --- Follow-ups -----------------------------------------------------------------------------------------

FOLLOWUP_STATES = ["open", "breached", "closed"]


class FollowupSurveySerializer(serializers.Serializer):
    source = serializers.CharField(help_text="The survey answer's event source.")
    id = serializers.CharField(help_text="The survey answer's event id.")
    survey_id = serializers.CharField(allow_null=True, help_text="The survey's own id, if it named one.")
    position = serializers.IntegerField(allow_null=True, help_text="Where the answer is in the log.")


class FollowupSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    customer_id = serializers.UUIDField(help_text="The thread's customer now (after any merge).")
    metric = serializers.ChoiceField(choices=["csat", "nps", "ces"])
    score = serializers.IntegerField()
    comment = serializers.CharField(allow_null=True, help_text="The customer's comment, if any.")
    survey = FollowupSurveySerializer()
    reason = serializers.CharField(help_text="Which rule the answer met.")
    state = serializers.ChoiceField(choices=FOLLOWUP_STATES)
    opened_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(help_text="The end of its SLA.")
    seconds_left = serializers.FloatField(
        allow_null=True, help_text="Until due_at, negative when overdue; null once closed."
    )
    breached_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(allow_null=True, help_text="The token (or person) that closed it.")
    action = serializers.ChoiceField(choices=list(FOLLOWUP_ACTIONS), allow_null=True)
    note = serializers.CharField(allow_null=True)
    callbacks = serializers.ListField(
        child=serializers.DictField(),
        help_text="Callbacks requested for it, oldest first: callback_id, agent_id, at.",
    )


class FollowupListQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=FOLLOWUP_STATES, required=False, default="open")


class FollowupCloseSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(FOLLOWUP_ACTIONS), help_text="What was done.")
    note = serializers.CharField(max_length=REMARK_MAX, required=False)


class FollowupCallbackSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=64, required=False, help_text="The number to call; default: the survey's tel: subject."
    )
    reason = serializers.CharField(max_length=REMARK_MAX, required=False, allow_blank=True)
    at = AwareDateTimeField(
        required=False, help_text="ISO 8601 with an offset; default: as soon as possible."
    )
    window_end = AwareDateTimeField(required=False, help_text="Give up after this (default: 24 h).")
    timezone = serializers.CharField(max_length=64, required=False, help_text="The customer's IANA zone.")


class FollowupCallbackResultSerializer(serializers.Serializer):
    followup = FollowupSerializer()
    callback = CallbackSerializer()

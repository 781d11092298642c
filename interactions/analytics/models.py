"""The measures' read models, written by the `analytics` subscription (interactions/projections/analytics.py).

Answers are counted per hour and per value of every dimension a supervisor groups by, so a read of any range
sums a bounded number of rows and never reads the log. The dimension tables say what the projection knew of a
customer (segment) and a thread (topic, agent) when each answer arrived.
"""

from __future__ import annotations

from django.db import models


class CustomerFacts(models.Model):
    """What the measures group a customer's events by: their segment at the time (blank: none known)."""

    customer_id = models.UUIDField(primary_key=True)
    segment = models.CharField(max_length=64, blank=True, default="")
    merged_into = models.UUIDField(null=True, blank=True)
    # The currencies of their lifetime value rows (CustomerValue), space-separated: what a merge moves.
    currencies = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        db_table = "analytics_customer"

    def __str__(self) -> str:
        return f"{self.customer_id}: segment {self.segment or '-'}"


class ThreadFacts(models.Model):
    """What the measures group a thread's events by (its topic, the agent it was last assigned to, the channel
    of its first activity) and the moments its handling is timed from."""

    thread_id = models.UUIDField(primary_key=True)
    topic = models.CharField(max_length=120, blank=True, default="")
    agent_id = models.CharField(max_length=128, blank=True, default="")
    channel = models.CharField(max_length=16, blank=True, default="")
    customer_id = models.UUIDField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    first_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_once = models.BooleanField(default=False)
    # The customer's effort on the thread, from the log: counted until its first resolution.
    contacts = models.IntegerField(default=0)
    switches = models.IntegerField(default=0)
    transfers = models.IntegerField(default=0)
    last_contact_channel = models.CharField(max_length=16, blank=True, default="")
    ces = models.SmallIntegerField(null=True, blank=True)  # the first CES answer given on it
    effort_index = models.SmallIntegerField(null=True, blank=True)  # set at its first resolution
    effort_key = models.CharField(max_length=64, blank=True, default="")  # the EffortHour row it counts in
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    fcr = models.BooleanField(default=False)  # counted as resolved at first contact, and not revoked
    resolved = models.BooleanField(default=False)  # resolved now (a reopen of it is a reopen)
    # The customer's journey on the thread (interactions/analytics/journeys.py): the step they are at and
    # their last contact in it, since when they wait for an answer (and at which step), their last contact
    # with self-service (until an assisted contact bounces it), and callbacks asked for and not yet ended.
    step = models.CharField(max_length=32, blank=True, default="")
    step_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    waiting_step = models.CharField(max_length=32, blank=True, default="")
    answered_at = models.DateTimeField(null=True, blank=True)  # the latest answer to the customer
    self_service_at = models.DateTimeField(null=True, blank=True)
    self_service_step = models.CharField(max_length=32, blank=True, default="")
    pending_callbacks = models.IntegerField(default=0)

    class Meta:
        db_table = "analytics_thread"

    def __str__(self) -> str:
        return f"{self.thread_id}: topic {self.topic or '-'}, agent {self.agent_id or '-'}"


SCORES = [f"score_{n}" for n in range(0, 11)]  # one column per score of any scale (NPS: 0 to 10)
ROLLUP_DIMENSIONS = ("", "channel", "agent_id", "topic", "segment")  # "": all answers, not grouped


class SurveyRollup(models.Model):
    """The answers of one metric in one UTC hour or one UTC day (`period`, by when each was given), either all
    of them (`dimension` blank) or those with one value of one dimension (channel, agent_id, topic or
    segment; `value` blank: not known): how many gave each score, a column per score.

    What the survey reads sum: a row per score and per combination of all four dimensions barely collapsed
    (40 agents and 6 topics left nearly a row per answer; that table, analytics_survey_hour, is gone), while
    a read groups by one dimension at most. Day rows serve reads bucketed by day or week, in UTC and in
    zones where a UTC day has at most 3 hours of another local day (corrected from hour rows); hour rows
    the rest."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of the fields but the scores
    period = models.CharField(max_length=4)  # "hour" or "day"
    start = models.DateTimeField()  # the UTC hour or the UTC midnight it starts at
    metric = models.CharField(max_length=8)
    dimension = models.CharField(max_length=16, blank=True, default="")
    value = models.CharField(max_length=128, blank=True, default="")
    score_0 = models.IntegerField(default=0)
    score_1 = models.IntegerField(default=0)
    score_2 = models.IntegerField(default=0)
    score_3 = models.IntegerField(default=0)
    score_4 = models.IntegerField(default=0)
    score_5 = models.IntegerField(default=0)
    score_6 = models.IntegerField(default=0)
    score_7 = models.IntegerField(default=0)
    score_8 = models.IntegerField(default=0)
    score_9 = models.IntegerField(default=0)
    score_10 = models.IntegerField(default=0)

    class Meta:
        db_table = "analytics_survey_rollup"
        indexes = [models.Index(fields=["period", "dimension", "start"], name="analytics_survey_rollup_at")]

    def __str__(self) -> str:
        return f"{self.period} {self.start:%Y-%m-%d %H}:00 {self.metric} {self.dimension}={self.value or '-'}"


HANDLING_COUNTS = [
    "calls", "call_seconds", "transfers", "first_responses", "first_response_seconds", "resolutions",
    "resolution_seconds", "handled", "handle_seconds", "reopens", "fcr", "repeat_contacts",
]  # fmt: skip


class HourRow(models.Model):
    """What every hourly row of the measures is counted by: the hour (UTC) and the dimensions a supervisor
    groups by (blank: not known)."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of hour and the dimensions
    hour = models.DateTimeField()
    channel = models.CharField(max_length=16)
    agent_id = models.CharField(max_length=128, blank=True, default="")
    topic = models.CharField(max_length=120, blank=True, default="")
    segment = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


class HandlingHour(HourRow):
    """Handling counted in one hour (UTC, by when each step happened) for one combination of channel, agent,
    topic and segment (blank: not known): sums of seconds beside the counts they are averaged over."""

    calls = models.IntegerField(default=0)
    call_seconds = models.BigIntegerField(default=0)
    transfers = models.IntegerField(default=0)
    first_responses = models.IntegerField(default=0)
    first_response_seconds = models.BigIntegerField(default=0)
    resolutions = models.IntegerField(default=0)
    resolution_seconds = models.BigIntegerField(default=0)
    handled = models.IntegerField(default=0)
    handle_seconds = models.BigIntegerField(default=0)
    reopens = models.IntegerField(default=0)
    fcr = models.IntegerField(default=0)  # of `resolutions`: resolved at first contact, not revoked since
    # Threads whose first contact came within THREADLINE_FCR_DAYS of the customer's last contact about the
    # same topic on another thread: they came back about it.
    repeat_contacts = models.IntegerField(default=0)

    class Meta:
        db_table = "analytics_handling_hour"
        indexes = [models.Index(fields=["hour"], name="analytics_handling_hour_at")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.channel}: {self.resolutions} resolved, {self.calls} calls"


EFFORT_COUNTS = [
    "threads", "contacts", "switches", "transfers", "repeats", "index_sum",
    "pairs", "pair_index_sum", "pair_ces_sum", "sum_xx", "sum_yy", "sum_xy",
]  # fmt: skip


class EffortHour(HourRow):
    """The effort of the threads first resolved in one hour (UTC) for one combination of channel, agent,
    topic and segment: sums of what the log shows of it, and of the pairs (effort index, CES) of those
    threads whose customer also answered a CES, to say how well the two agree."""

    threads = models.IntegerField(default=0)
    contacts = models.IntegerField(default=0)
    switches = models.IntegerField(default=0)
    transfers = models.IntegerField(default=0)
    repeats = models.IntegerField(default=0)
    index_sum = models.BigIntegerField(default=0)
    pairs = models.IntegerField(default=0)
    pair_index_sum = models.BigIntegerField(default=0)
    pair_ces_sum = models.BigIntegerField(default=0)  # of 8 - CES: 1 (easy) to 7 (hard), as effort is read
    sum_xx = models.BigIntegerField(default=0)
    sum_yy = models.BigIntegerField(default=0)
    sum_xy = models.BigIntegerField(default=0)

    class Meta:
        db_table = "analytics_effort_hour"
        indexes = [models.Index(fields=["hour"], name="analytics_effort_hour_at")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.channel}: {self.threads} threads"


class TopicFacts(models.Model):
    """A customer's last thread on a topic counted as resolved at first contact: a new thread of theirs on
    the same topic soon after revokes it."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of the customer and the topic
    thread_id = models.UUIDField()

    class Meta:
        db_table = "analytics_topic"

    def __str__(self) -> str:
        return f"{self.key}: {self.thread_id}"


class JourneyRow(models.Model):
    """What every row of the journeys is counted by: its period, a UTC hour or a UTC day (`hour` is when it
    starts: the hour, or the day's midnight), the objective (the thread's topic) and the customer's segment
    (blank: not known). Everything is counted in both its hour's row and its day's: a read by day or week in
    UTC sums the day rows of whole UTC days, and the transitions of any read (summed over its range) too, as
    survey reads sum the survey rollups."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of the other fields but the counts
    period = models.CharField(max_length=4, default="hour")  # "hour" or "day"
    hour = models.DateTimeField()
    topic = models.CharField(max_length=120, blank=True, default="")
    segment = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


STEP_COUNTS = ["entries", "waits", "wait_seconds", "transfers", "unanswered", "abandoned", "idled", "bounced"]


class StepHour(JourneyRow):
    """One step of the customers' journeys (a channel, or self-service on one) in one hour or day: how many
    entered it, the answers they waited for there and how long, transfers, the dead-ends reached there (a
    message unanswered past the SLA, an abandoned call, a thread gone idle unresolved) and, for a
    self-service step, how many bounced to an assisted contact on the same objective."""

    step = models.CharField(max_length=32)
    entries = models.IntegerField(default=0)
    waits = models.IntegerField(default=0)
    wait_seconds = models.BigIntegerField(default=0)
    transfers = models.IntegerField(default=0)
    unanswered = models.IntegerField(default=0)
    abandoned = models.IntegerField(default=0)
    idled = models.IntegerField(default=0)
    bounced = models.IntegerField(default=0)

    class Meta:
        db_table = "analytics_step_hour"
        indexes = [models.Index(fields=["period", "hour"], name="analytics_step_period_at")]

    def __str__(self) -> str:
        at = f"{self.period} {self.hour:%Y-%m-%d %H}:00"
        return f"{at} {self.topic or '-'} {self.step}: {self.entries} entered"


# Upper bounds (seconds) of the bins the time between two steps is counted in; the last bin is open. A
# median is read from them (linear within its bin), so it is exact to the bin.
GAP_BINS = [
    10, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, 86400, 2 * 86400,
    3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
]  # fmt: skip
TRANSITION_COUNTS = ["transitions", "gap_seconds", *(f"gap_{n}" for n in range(len(GAP_BINS) + 1))]


class TransitionHour(JourneyRow):
    """Customers who moved from one step of an objective's journey to another (`start`: their first step) in
    one hour or day: how many, the seconds between their last contact at the one and their first at the
    other, and how many of those gaps fell in each bin of GAP_BINS."""

    from_step = models.CharField(max_length=32)
    to_step = models.CharField(max_length=32)
    transitions = models.IntegerField(default=0)
    gap_seconds = models.BigIntegerField(default=0)
    locals().update({f"gap_{n}": models.IntegerField(default=0) for n in range(len(GAP_BINS) + 1)})

    class Meta:
        db_table = "analytics_transition_hour"
        indexes = [models.Index(fields=["period", "hour"], name="analytics_transition_period_at")]

    def __str__(self) -> str:
        return (
            f"{self.period} {self.hour:%Y-%m-%d %H}:00 {self.topic or '-'} {self.from_step} -> {self.to_step}"
        )


class CustomerTopic(models.Model):
    """A customer's last contact about a topic, and on which thread: their first contact on another thread
    about it soon after is a repeat contact."""

    key = models.CharField(max_length=64, primary_key=True)  # sha256 of the customer and the topic
    thread_id = models.UUIDField()
    last_contact_at = models.DateTimeField()

    class Meta:
        db_table = "analytics_customer_topic"

    def __str__(self) -> str:
        return f"{self.key}: {self.thread_id} at {self.last_contact_at:%Y-%m-%d %H:%M}"


CALLBACK_OUTCOMES = ["completed", "no_answer", "busy", "failed"]


class CallbackHour(HourRow):
    """The outcomes agents reported for callback calls of one attempt (1: the first call, 2: the first
    retry, ...) in one hour, for one combination of the agent who called, the thread's topic and the
    customer's segment (channel: voice)."""

    attempt = models.SmallIntegerField()
    completed = models.IntegerField(default=0)
    no_answer = models.IntegerField(default=0)
    busy = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)

    class Meta:
        db_table = "analytics_callback_hour"
        indexes = [models.Index(fields=["hour"], name="analytics_callback_hour_at")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 attempt {self.attempt}: {self.completed} completed"


OUTCOME_COUNTS = [
    "sales", "sale_value", "upgrades", "upgrade_value", "retentions", "retention_value",
    "cancellations", "cancellation_value", "refunds", "refund_value",
]  # fmt: skip


class OutcomeHour(HourRow):
    """The outcomes recorded in one hour (UTC, by when each happened) for one combination of channel, agent,
    topic, segment and currency (blank: not known): how many of each kind, and the sum of their values in
    ten-thousandths of the currency (exact: interactions.catalogue.currencies)."""

    currency = models.CharField(max_length=3)
    sales = models.IntegerField(default=0)
    sale_value = models.BigIntegerField(default=0)
    upgrades = models.IntegerField(default=0)
    upgrade_value = models.BigIntegerField(default=0)
    retentions = models.IntegerField(default=0)
    retention_value = models.BigIntegerField(default=0)
    cancellations = models.IntegerField(default=0)
    cancellation_value = models.BigIntegerField(default=0)
    refunds = models.IntegerField(default=0)
    refund_value = models.BigIntegerField(default=0)

    class Meta:
        db_table = "analytics_outcome_hour"
        indexes = [models.Index(fields=["hour"], name="analytics_outcome_hour_at")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.channel} {self.currency}: {self.sales} sales"


class CustomerValue(models.Model):
    """A customer's lifetime value in one currency: what their outcomes added (sales, upgrades and retentions
    less refunds; README "Outcomes"), in ten-thousandths. A merged customer's rows move to the survivor (and
    are left at zero)."""

    key = models.CharField(max_length=40, primary_key=True)  # "<customer id>/<currency>"
    customer_id = models.UUIDField()
    currency = models.CharField(max_length=3)
    value = models.BigIntegerField(default=0)
    outcomes = models.IntegerField(default=0)  # how many outcomes (of every kind) it sums

    class Meta:
        db_table = "analytics_customer_value"
        indexes = [models.Index(fields=["customer_id"], name="analytics_customer_value_of")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.currency}: {self.value}"

"""The data schema of every event type and version: pydantic models, JSON-native, checked at ingestion."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from interactions.catalogue import currencies
from interactions.catalogue.zones import iana_zone
from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier

TEXT_MAX = 20_000  # characters of a message body, note or transcript
SHORT_MAX = 998  # an RFC 5322 header line: subjects, Message-IDs, references
_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
# A language tag's shape (RFC 5646: a primary language of letters, then subtags of letters and digits), with
# the underscore of POSIX locales (`en_GB`) that CRMs send too. Its registry is not checked.
_LANGUAGE = re.compile(r"\A[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*\Z")


def _octets(value: str) -> str:
    # Counted in bytes: RFC 5322 counts a header line in octets, and these keys are the primary key of the
    # conversation-ref table, whose index entries PostgreSQL limits in bytes (see hub.storable).
    if len(value.encode("utf-8", "surrogatepass")) > SHORT_MAX:
        raise ValueError(f"at most {SHORT_MAX} bytes in UTF-8")
    return value


def _iso_date(value: Any) -> Any:
    # Only YYYY-MM-DD: the data is stored as sent and read back with date.fromisoformat, so the lax forms a
    # date would otherwise take (a Unix timestamp, a datetime at midnight) would stop the projection.
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


Text = Annotated[str, Field(strict=True, max_length=TEXT_MAX)]
Short = Annotated[str, Field(strict=True, min_length=1, max_length=SHORT_MAX)]
# A conversation key (an e-mail Message-ID, In-Reply-To or References entry, a chat session, a call id).
Ref = Annotated[str, Field(strict=True, min_length=1, max_length=SHORT_MAX), AfterValidator(_octets)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=128)]
Direction = Literal["inbound", "outbound"]
# WhatsApp is a channel of its own (its 24-hour service window differs from SMS); Messenger and Instagram are
# "social", their platform named by the identifier (`social:messenger:<id>`, `social:instagram:<id>`).
MessageChannel = Literal["chat", "email", "sms", "social", "whatsapp"]
AnyChannel = Literal["chat", "email", "sms", "social", "whatsapp", "voice", "web", "internal"]
CHANNELS = ("chat", "email", "sms", "social", "whatsapp", "voice", "web", "internal")


class EventData(BaseModel):
    """Fields every event may carry. Unknown fields are kept: integrations add their own."""

    model_config = ConfigDict(extra="allow")

    thread_id: UUID | None = None
    topic: Annotated[str, Field(strict=True, min_length=1, max_length=120)] | None = None
    identifiers: list[str] = Field(default_factory=list, max_length=20)
    conversation_ref: Ref | None = None
    agent_id: Name | None = None

    @field_validator("identifiers")
    @classmethod
    def _identifiers_parse(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                parse_identifier(item)
            except InvalidIdentifier as exc:
                raise ValueError(str(exc)) from exc
        return value


class Attachment(BaseModel):
    name: Annotated[str, Field(strict=True, min_length=1, max_length=255)]
    content_type: Annotated[str, Field(strict=True, max_length=255)] | None = None
    size: Annotated[int, Field(strict=True, ge=0)] | None = None
    url: Annotated[str, Field(strict=True, max_length=2048)] | None = None
    sha256: Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")] | None = None


class MessageData(EventData):
    channel: MessageChannel
    text: Text
    direction: Direction | None = None
    subject_line: Short | None = None
    in_reply_to: Ref | None = None
    references: list[Ref] = Field(default_factory=list, max_length=100)
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    sender_name: Name | None = None
    # The provider's own id of this message (Twilio's MessageSid, Meta's wamid, an e-mail's Message-ID):
    # delivery statuses name it.
    message_ref: Ref | None = None
    # Written by a machine, not the customer: an auto-reply (RFC 3834 Auto-Submitted, out-of-office), a
    # bounce (a delivery status notification) or a read receipt (a message disposition notification, RFC
    # 8098). Never counted as the customer writing.
    automated: Literal["auto-reply", "bounce", "read-receipt"] | None = None
    bounce: Literal["hard", "soft"] | None = None  # for a bounce: permanent (5.x.x) or transient (4.x.x)
    bounced_recipients: list[Annotated[str, Field(strict=True, max_length=320)]] = Field(
        default_factory=list, max_length=100
    )

    expected_direction: ClassVar[str] = "inbound"

    @model_validator(mode="after")
    def _direction_matches_type(self) -> MessageData:
        if self.direction is not None and self.direction != self.expected_direction:
            raise ValueError(f"direction must be {self.expected_direction!r} for this event type")
        return self


class MessageReceivedData(MessageData):
    # The customer wrote to self-service (a bot, a help-centre flow), not to a person: a self-service step of
    # their journey (README "Journeys").
    self_service: StrictBool = False

    expected_direction: ClassVar[str] = "inbound"


class MessageSentData(MessageData):
    expected_direction: ClassVar[str] = "outbound"


class CallData(EventData):
    channel: Literal["voice"] = "voice"
    direction: Direction
    from_number: Annotated[str, Field(strict=True, max_length=64)] | None = None
    to_number: Annotated[str, Field(strict=True, max_length=64)] | None = None
    ivr_path: list[Name] = Field(default_factory=list, max_length=50)
    queue: Name | None = None
    self_service: StrictBool = False  # the call stayed in the IVR (self-service), with no agent


class CallStartedData(CallData):
    pass


class CallEndedData(CallData):
    duration_seconds: Annotated[int, Field(strict=True, ge=0, le=7 * 24 * 3600)]
    disposition: Name | None = None
    text: Text | None = None  # a summary or transcript
    recording_ref: Short | None = None


class CallTransferredData(CallData):
    direction: Direction | None = None  # type: ignore[assignment]
    to_agent_id: Name | None = None
    to_queue: Name | None = None
    reason: Text | None = None

    @model_validator(mode="after")
    def _has_target(self) -> CallTransferredData:
        if not (self.to_agent_id or self.to_queue):
            raise ValueError("a transfer names to_agent_id or to_queue")
        return self


class CallRecordedData(EventData):
    """A call's recording is ready (or failed): the provider's ids and its length, never the audio."""

    channel: Literal["voice"] = "voice"
    conversation_ref: Ref  # type: ignore[assignment]  # the call's id (Twilio's CallSid): names the call
    recording_ref: Short
    status: Literal["completed", "absent", "failed"]
    duration_seconds: Annotated[int, Field(strict=True, ge=0, le=7 * 24 * 3600)] | None = None
    audio_channels: Annotated[int, Field(strict=True, ge=1, le=2)] | None = None
    error_code: Annotated[str, Field(strict=True, max_length=64)] | None = None


class CallTranscribedData(EventData):
    """The transcript of a call's recording (card numbers masked like in any value), or its failure."""

    channel: Literal["voice"] = "voice"
    conversation_ref: Ref  # type: ignore[assignment]  # the call's id
    transcription_ref: Short
    recording_ref: Short | None = None
    status: Literal["completed", "failed"]
    text: Text | None = None


MESSAGE_STATUSES = ("queued", "sent", "delivered", "undelivered", "failed", "read")


class MessageStatusData(EventData):
    """What became of a message sent to the customer, as its provider reports it."""

    channel: MessageChannel
    message_ref: Ref  # the provider's id of the message this status is about
    status: Literal["queued", "sent", "delivered", "undelivered", "failed", "read"]
    error_code: Annotated[str, Field(strict=True, max_length=64)] | None = None
    error_message: Annotated[str, Field(strict=True, max_length=1024)] | None = None


SURVEY_RANGES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


class SurveyAnsweredData(EventData):
    channel: AnyChannel
    metric: Literal["csat", "nps", "ces"]
    score: Annotated[int, Field(strict=True)]
    comment: Text | None = None
    survey_id: Name | None = None

    @model_validator(mode="after")
    def _score_in_range(self) -> SurveyAnsweredData:
        low, high = SURVEY_RANGES[self.metric]
        if not low <= self.score <= high:
            raise ValueError(f"{self.metric} score must be between {low} and {high}")
        return self


OUTCOME_KINDS = ("sale", "upgrade", "retention", "cancellation", "refund")
_MONEY = re.compile(r"\A[0-9]+(?:\.[0-9]+)?\Z")


def _money(value: Any) -> str:
    """A non-negative amount as a decimal string: digits, then optionally a point and 1 to 4 decimals, below
    a thousand million (interactions.catalogue.currencies). A JSON number is refused: a float cannot hold
    19.99, and a value must reach the sums exactly as it was written."""
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "19.99", not a JSON number')
    if value.startswith("-"):
        raise ValueError(
            "must not be negative: a refund or a cancellation is its own kind, of a positive value"
        )
    if not _MONEY.match(value):
        raise ValueError('must be digits with an optional point and decimals, such as "19.99"')
    decimals = value.partition(".")[2]
    if len(decimals) > currencies.DECIMALS:
        raise ValueError(f"has at most {currencies.DECIMALS} decimals")
    if Decimal(value) > currencies.VALUE_MAX:
        raise ValueError(f"must be at most {currencies.VALUE_MAX}")
    return value


def _currency(value: Any) -> str:
    if not isinstance(value, str) or value not in currencies.ISO_4217:
        raise ValueError("must be an active ISO 4217 code in upper case, such as EUR or USD")
    return value


Money = Annotated[str, BeforeValidator(_money)]
Currency = Annotated[str, BeforeValidator(_currency)]


class OutcomeRecordedData(EventData):
    """What a contact achieved, in money: a sale, an upgrade, a retention, a cancellation or a refund, with
    its value (a positive decimal string, at most 4 decimals) in an ISO 4217 currency."""

    kind: Literal["sale", "upgrade", "retention", "cancellation", "refund"]
    value: Money
    currency: Currency
    channel: AnyChannel | None = None
    reference: Annotated[str, Field(strict=True, min_length=1, max_length=256)] | None = None


class NoteAddedData(EventData):
    channel: Literal["internal"] = "internal"
    text: Annotated[str, Field(strict=True, min_length=1, max_length=TEXT_MAX)]


class ProfileUpdatedData(BaseModel):
    """Profile fields from a CRM or the customer; only the fields present change."""

    model_config = ConfigDict(extra="allow")

    identifiers: list[str] = Field(default_factory=list, max_length=20)
    name: Annotated[str, Field(strict=True, max_length=200)] | None = None
    language: Annotated[str, Field(strict=True, max_length=35)] | None = None
    timezone: Annotated[str, Field(strict=True, max_length=64)] | None = None
    segment: Annotated[str, Field(strict=True, max_length=64)] | None = None
    birthday: IsoDate | None = None
    preferences: dict[str, Any] | None = None
    consent: dict[str, StrictBool] | None = None  # strict: 0 or "yes" is not a consent

    _identifiers_parse = field_validator("identifiers")(EventData._identifiers_parse.__func__)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            iana_zone(value)  # its ValueError names the value
        return value

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str | None) -> str | None:
        if value and not _LANGUAGE.match(value):  # empty clears it
            raise ValueError("must be a language tag such as en, en-GB or pt_BR")
        return value

    @field_validator("preferences")
    @classmethod
    def _preferred_channel(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """`channel` is what next best actions recommend: one of the channels a customer can be reached on."""
        channel = (value or {}).get("channel")
        if channel is None:
            return value
        reachable = [c for c in CHANNELS if c != "internal"]
        if not isinstance(channel, str) or channel.strip().lower() not in reachable:
            raise ValueError(f"channel must be one of {', '.join(reachable)}")
        return value  # kept as sent: the rule compares channels without case or spaces


# --- Types the hub appends itself (never posted by integrations) ------------------------------------------


class CustomerCreatedData(BaseModel):
    customer_id: UUID
    identifiers: list[str]


class CustomerIdentifiedData(BaseModel):
    customer_id: UUID
    identifier: str


class CustomerMergedData(BaseModel):
    survivor_id: UUID
    merged_id: UUID


class ThreadOpenedData(BaseModel):
    thread_id: UUID
    customer_id: UUID
    topic: str | None = None


class ThreadAssignedData(BaseModel):
    thread_id: UUID
    agent_id: str


class ThreadStateData(BaseModel):
    thread_id: UUID
    agent_id: str | None = None
    reason: str | None = None


class ThreadIdledData(BaseModel):
    """An open thread with no activity for the continuation window (appended by the hub, once per quiet
    spell): `last_activity_at` is its last activity (null: it never had any, and idled from `opened_at`)."""

    thread_id: UUID
    customer_id: UUID
    opened_at: datetime
    last_activity_at: datetime | None = None
    window_hours: float


class AgentStatusChangedData(BaseModel):
    agent_id: str
    status: Literal["available", "busy", "offline"]
    reason: str | None = None


class NbaOutcomeData(BaseModel):
    """An agent took up or dismissed a next best action the context recommended."""

    rule_id: str
    customer_id: UUID
    thread_id: UUID | None = None
    agent_id: str
    reason: str | None = None


class CallbackRequestedData(EventData):
    """A customer asked to be called back; `thread_id`, if given, is the thread they named."""

    callback_id: UUID
    phone: str
    reason: str = ""
    not_before: datetime
    window_end: datetime
    timezone: str | None = None  # the zone used at the request: the request's, else the profile's
    requested_timezone: str | None = None  # the request's own (absent in requests recorded before it)
    requested_by: str
    followup_id: UUID | None = None  # requested for this follow-up (POST /api/v1/followups/{id}/callback)


class CallbackScheduledData(BaseModel):
    callback_id: UUID
    attempt: int
    due_at: datetime
    why: Literal["requested", "retry", "hours"]


class CallbackOfferedData(BaseModel):
    callback_id: UUID
    attempt: int
    offer: int
    agent_id: str
    route: Literal["last_agent", "skills", "least_recent"]
    expires_at: datetime
    context: dict[str, Any]


class CallbackAnswerData(BaseModel):
    callback_id: UUID
    attempt: int
    offer: int
    agent_id: str
    reason: str | None = None


class CallbackOutcomeData(BaseModel):
    callback_id: UUID
    attempt: int
    agent_id: str
    note: str | None = None


class CallbackOutcomeOverdueData(BaseModel):
    """An accepted call whose agent has reported no outcome `overdue_minutes` after accepting it."""

    callback_id: UUID
    attempt: int
    agent_id: str
    accepted_at: datetime
    overdue_minutes: float
    followup_id: UUID | None = None  # the follow-up the callback was requested for, if one


class CallbackEndedData(BaseModel):
    callback_id: UUID
    reason: str
    agent_id: str | None = None


# --- Follow-ups (the closed loop): a bad survey answer followed up within its SLA ---------------------------

FOLLOWUP_ACTIONS = ("called_back", "credited", "explained", "escalated")


class FollowupSurvey(BaseModel):
    """The survey answer a follow-up was opened for, as the log recorded it (`source` and `id` find it)."""

    source: str
    id: str
    metric: Literal["csat", "nps", "ces"]
    score: int
    comment: str | None = None
    survey_id: str | None = None


class FollowupOpenedData(BaseModel):
    """A survey answer met the follow-up rule: someone must get back to the customer by `due_at`."""

    followup_id: UUID
    thread_id: UUID
    customer_id: UUID
    survey: FollowupSurvey
    reason: str  # a sentence: which rule the answer met
    rule: dict[str, Any]  # {"metric": "csat", "max": 2}: the rule as it was when the answer arrived
    sla_seconds: float
    due_at: datetime


class FollowupClosedData(BaseModel):
    followup_id: UUID
    action: Literal["called_back", "credited", "explained", "escalated"]
    note: str | None = None
    agent_id: str  # who closed it (an agent, supervisor or admin token's id)
    breached: bool = False  # closed after its SLA had been recorded as breached


class FollowupBreachedData(BaseModel):
    followup_id: UUID
    due_at: datetime


class FollowupCallbackData(BaseModel):
    """A callback to the customer was requested for the follow-up, through the callback flow."""

    followup_id: UUID
    callback_id: UUID
    agent_id: str

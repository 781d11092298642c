"""Next best action rules: a JSON file an operator edits, checked at start-up, evaluated over a context.

A rule names one of a fixed set of predicates (below) with its parameters, a priority and the text of what to
do and why. The predicates are pure functions of the context answer (a dict, as `/context` renders it) and
the moment it is read, so each is tested on hand-built contexts. Texts may name the predicate's facts and
parameters as `{name}`; anything else in braces is refused when the file is loaded.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core import checks
from django.utils.dateparse import parse_date, parse_datetime
from pydantic import BaseModel, ConfigDict, Field, ValidationError

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class InvalidRules(ValueError):
    """The rules file cannot be read, or a rule in it is wrong (the message says which and why)."""


@dataclass(frozen=True)
class Situation:
    """What a predicate sees: the context answer and the moment it is read."""

    context: dict[str, Any]
    now: datetime
    business_timezone: str = "UTC"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Predicate:
    fn: Callable[[Situation, Any], dict[str, Any] | None]
    params: type[Params]
    facts: tuple[str, ...]
    description: str


PREDICATES: dict[str, Predicate] = {}


def predicate(name: str, params: type[Params], facts: tuple[str, ...]):
    def register(fn: Callable[[Situation, Any], dict[str, Any] | None]):
        PREDICATES[name] = Predicate(fn, params, facts, (fn.__doc__ or "").strip())
        return fn

    return register


# --- Reading the context --------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    """A datetime from the context (a datetime as the selector returns it, or ISO text as rendered)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        parsed = parse_datetime(value)
        return parsed if parsed is not None and parsed.tzinfo is not None else None
    return None


def _date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_date(value) if isinstance(value, str) else None


def _contact(entry: dict[str, Any]) -> bool:
    """Is this timeline entry a contact by the customer: inbound, and not written by a machine (an
    auto-reply, a bounce: details.automated)?"""
    return entry.get("direction") == "inbound" and not (entry.get("details") or {}).get("automated")


def _unresolved(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's threads whose objective is not met: open ones, and those gone idle."""
    return [*(context.get("open_threads") or []), *(context.get("idle_threads") or [])]


def _entries(context: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(thread, timeline entry) of every open or idle thread's recent entries."""
    return [(t, e) for t in _unresolved(context) for e in t.get("recent") or []]


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


# --- The predicates -------------------------------------------------------------------------------------


class BottomBoxParams(Params):
    days: Annotated[int, Field(ge=1, le=365)] = 7
    csat_max: Annotated[int, Field(ge=1, le=5)] | None = 2
    nps_max: Annotated[int, Field(ge=0, le=10)] | None = 6
    ces_max: Annotated[int, Field(ge=1, le=7)] | None = None


@predicate("bottom_box_rating", BottomBoxParams, ("metric", "score", "day"))
def bottom_box_rating(s: Situation, p: BottomBoxParams) -> dict[str, Any] | None:
    """The customer's latest answer of a metric (surveys.<metric>.last and .at) is at or below its
    threshold (csat_max, nps_max, ces_max; null: that metric is not looked at) and no older than `days`."""
    found = None
    for metric, summary in (s.context.get("surveys") or {}).items():
        limit = getattr(p, f"{metric}_max", None)
        at = _time(summary.get("at"))
        score = summary.get("last")
        if limit is None or at is None or not isinstance(score, int) or s.now - at > timedelta(days=p.days):
            continue
        if score <= limit and (found is None or at > found[0]):
            found = (at, metric, score)
    if found is None:
        return None
    at, metric, score = found
    return {"metric": metric.upper(), "score": score, "day": at.date().isoformat()}


class RepeatContactParams(Params):
    contacts: Annotated[int, Field(ge=2, le=20)] = 3
    hours: Annotated[int, Field(ge=1, le=720)] = 72
    session_minutes: Annotated[int, Field(ge=0, le=1440)] = 30


@predicate("repeat_contact", RepeatContactParams, ("count", "objective"))
def repeat_contact(s: Situation, p: RepeatContactParams) -> dict[str, Any] | None:
    """An open thread (one objective) has had at least `contacts` inbound contacts from the customer in the
    last `hours`: inbound entries of its recent timeline (the 20 latest), where inbound entries on one
    channel less than `session_minutes` apart are one contact (a chat of five messages is one contact), and
    a call is one contact (its entries share its conversation_ref; without one, its start counts)."""
    since = s.now - timedelta(hours=p.hours)
    best = None
    for thread in s.context.get("open_threads") or []:
        inbound = sorted(
            (
                (at, e.get("position") or 0, e)
                for e in thread.get("recent") or []
                if _contact(e) and (at := _time(e.get("occurred_at"))) and since <= at <= s.now
            ),
            key=lambda x: x[:2],
        )
        # Each channel's own session: an SMS, a WhatsApp message and an SMS a minute apart are two contacts
        # (one on each channel), not three. A call is one contact whatever its events say of it (its start
        # and its end are two inbound entries), and two calls are two, however close.
        count, last_on, calls = 0, {}, set()
        for at, _, e in inbound:
            if e.get("channel") == "voice":
                call = (e.get("details") or {}).get("conversation_ref")
                if call is None and e.get("type") != "call.started":
                    continue  # what follows a call the hub cannot tell apart: its start counted it
                if call is not None and call in calls:
                    continue
                calls.add(call)
                count += 1
                continue
            previous = last_on.get(e.get("channel"))
            if previous is None or at - previous >= timedelta(minutes=p.session_minutes):
                count += 1
            last_on[e.get("channel")] = at
        if count >= p.contacts and (best is None or count > best[0]):
            best = (count, thread)
    if best is None:
        return None
    count, thread = best
    return {
        "count": count,
        "objective": thread.get("topic") or "the same request",
        "thread_id": str(thread["id"]),
    }


class CallbackParams(Params):
    failed_hours: Annotated[int, Field(ge=1, le=720)] = 72


@predicate("callback_pending_or_failed", CallbackParams, ("state", "detail"))
def callback_pending_or_failed(s: Situation, p: CallbackParams) -> dict[str, Any] | None:
    """A callback is pending (pending_callbacks: scheduled, offered or under way), or one expired without
    reaching them in the last `failed_hours` (a callback.expired entry on an open or idle thread's timeline)
    and no callback has reached them since (callback_reached_at, on any thread)."""
    pending = s.context.get("pending_callbacks") or []
    if pending:
        first = pending[0]
        due = _time(first.get("due_at"))
        failed = [o for o in first.get("outcomes") or [] if o.get("outcome") != "completed"]
        detail = f"{first.get('state')}, due {_when(due)}" if due else str(first.get("state"))
        if failed:
            detail += f", after {len(failed)} attempt(s) that did not reach them"
        return {"state": "pending", "detail": detail, "callback_id": str(first.get("id"))}
    since = s.now - timedelta(hours=p.failed_hours)
    expired = [
        (at, e)
        for _, e in _entries(s.context)
        if e.get("type") == "callback.expired" and (at := _time(e.get("occurred_at"))) and at >= since
    ]
    if not expired:
        return None
    at, _ = max(expired, key=lambda x: x[0])
    # A later callback that reached them, on any thread (callback_reached_at: resolved ones too), answers
    # the one that did not: nothing is left to apologise for.
    reached = _time(s.context.get("callback_reached_at"))
    if reached is not None and reached >= at:
        return None
    return {"state": "failed", "detail": f"it expired at {_when(at)} without reaching them"}


class WindowParams(Params):
    minutes: Annotated[int, Field(ge=1, le=1440)] = 60


@predicate("whatsapp_window_closing", WindowParams, ("minutes_left",))
def whatsapp_window_closing(s: Situation, p: WindowParams) -> dict[str, Any] | None:
    """WhatsApp's 24-hour window is open (reachable.whatsapp.open) and closes within `minutes`."""
    whatsapp = (s.context.get("reachable") or {}).get("whatsapp") or {}
    until = _time(whatsapp.get("until"))
    if not whatsapp.get("open") or until is None:
        return None
    left = until - s.now
    if not timedelta(0) < left <= timedelta(minutes=p.minutes):
        return None
    return {"minutes_left": int(left.total_seconds() // 60), "until": until.isoformat()}


class PreferredChannelParams(Params):
    key: Annotated[str, Field(min_length=1, max_length=64)] = "channel"


def _current_channel(context: dict[str, Any]) -> str | None:
    """The channel of their latest inbound contact on an open thread; of two at one time, the later in the
    log (providers stamp to the second)."""
    inbound = [
        (at, e.get("position") or 0, e.get("channel"))
        for t in context.get("open_threads") or []
        for e in t.get("recent") or []
        if _contact(e) and (at := _time(e.get("occurred_at")))
    ]
    return max(inbound, key=lambda x: x[:2])[2] if inbound else None


@predicate("prefers_other_channel", PreferredChannelParams, ("channel", "current_channel"))
def prefers_other_channel(s: Situation, p: PreferredChannelParams) -> dict[str, Any] | None:
    """The profile's preferences.<key> (default preferences.channel) names a channel other than the one of
    their latest inbound contact on an open thread (or they have none), and that channel is not closed to
    them now (reachable.<channel>.open is not false: SMS after STOP, WhatsApp outside its 24 h window)."""
    preferred = ((s.context.get("customer") or {}).get("preferences") or {}).get(p.key)
    if not isinstance(preferred, str) or not preferred.strip():
        return None
    reachable = (s.context.get("reachable") or {}).get(preferred.strip().lower()) or {}
    if reachable.get("open") is False:
        return None
    current = _current_channel(s.context)
    if current is not None and current.lower() == preferred.strip().lower():
        return None
    return {"channel": preferred.strip(), "current_channel": current or "none yet"}


class PreferredLanguageParams(Params):
    default_language: Annotated[str, Field(min_length=2, max_length=35)] = "en"


@predicate("prefers_other_language", PreferredLanguageParams, ("language",))
def prefers_other_language(s: Situation, p: PreferredLanguageParams) -> dict[str, Any] | None:
    """The profile's language differs from `default_language` (compared by primary subtag: en-GB is en)."""
    language = (s.context.get("customer") or {}).get("language")
    if not isinstance(language, str) or not language.strip():
        return None
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    if primary == p.default_language.replace("_", "-").split("-")[0].lower():
        return None
    return {"language": language.strip()}


class NoParams(Params):
    pass


@predicate("birthday_today", NoParams, ("local_date",))
def birthday_today(s: Situation, p: NoParams) -> dict[str, Any] | None:
    """Today is the profile's birthday in the customer's time zone (the business zone when theirs is not
    known); a 29 February birthday is kept on 28 February in other years."""
    customer = s.context.get("customer") or {}
    born = _date(customer.get("birthday"))
    if born is None:
        return None
    try:
        tz = ZoneInfo(customer.get("timezone") or s.business_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(s.business_timezone)
    today = s.now.astimezone(tz).date()
    month, day = born.month, born.day
    if (month, day) == (2, 29) and not _leap(today.year):
        day = 28
    if (today.month, today.day) != (month, day):
        return None
    return {"local_date": today.isoformat()}


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class RetentionParams(Params):
    min_lifetime_value: Annotated[int | float, Field(ge=0)] = 1000
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    days: Annotated[int, Field(ge=1, le=365)] = 30
    topics: Annotated[list[Annotated[str, Field(min_length=1, max_length=120)]], Field(min_length=1)] = Field(
        default_factory=lambda: ["cancellation"]
    )


def _lifetime_value(context: dict[str, Any], currency: str) -> Decimal | None:
    """The customer's lifetime value in `currency` from their outcomes (the context's `lifetime_value`, a
    list of {currency, value as a decimal string}); None when they have none in it."""
    for entry in context.get("lifetime_value") or []:
        if isinstance(entry, dict) and entry.get("currency") == currency:
            try:
                return Decimal(str(entry.get("value")))
            except InvalidOperation:
                return None
    return None


@predicate("retention_risk", RetentionParams, ("lifetime_value", "topic"))
def retention_risk(s: Situation, p: RetentionParams) -> dict[str, Any] | None:
    """The customer's lifetime value in `currency` (the context's `lifetime_value`, summed from their
    `outcome.recorded` events; none in that currency: the rule does not fire) is at least
    `min_lifetime_value`, and a thread (open, idle or recently resolved) whose topic is one of `topics` was
    active in the last `days`."""
    value = _lifetime_value(s.context, p.currency)
    if value is None or not value.is_finite() or value < Decimal(str(p.min_lifetime_value)):
        return None
    wanted = {t.lower() for t in p.topics}
    since = s.now - timedelta(days=p.days)
    for thread in [*_unresolved(s.context), *(s.context.get("recently_resolved") or [])]:
        topic = thread.get("topic")
        at = _time(thread.get("last_activity_at"))
        if isinstance(topic, str) and topic.lower() in wanted and at is not None and at >= since:
            return {"lifetime_value": f"{value.normalize():f} {p.currency}", "topic": topic}
    return None


# --- The rules file -------------------------------------------------------------------------------------


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, Field(pattern=RULE_ID)]
    predicate: str
    params: dict[str, Any] = Field(default_factory=dict)
    priority: Annotated[int, Field(ge=0, le=1000)]
    do: Annotated[str, Field(min_length=1, max_length=500)]
    why: Annotated[str, Field(min_length=1, max_length=500)]


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    limit: Annotated[int, Field(ge=1, le=20)] = 3
    rules: Annotated[list[RuleSpec], Field(max_length=100)]


@dataclass(frozen=True)
class Rule:
    id: str
    predicate: str
    params: Params
    priority: int
    do: str
    why: str


@dataclass(frozen=True)
class RuleSet:
    limit: int
    rules: tuple[Rule, ...]

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _errors(exc: ValidationError, prefix: str) -> str:
    return "; ".join(
        f"{'.'.join([prefix, *(str(p) for p in e['loc'])]).strip('.') or '(top level)'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def _check_text(text: str, names: set[str], where: str) -> None:
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidRules(f"{where}: {exc} (write a brace as {{{{ or }}}})") from exc
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in names or spec or conversion:
            raise InvalidRules(
                f"{where}: {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is "
                f"not one of this rule's fields; write {{name}} with one of {', '.join(sorted(names))}"
            )


def parse_rules(text: str) -> RuleSet:
    """The rules in a file's text; InvalidRules says which rule is wrong and why."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidRules(f"not JSON: {exc}") from exc
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRules(_errors(exc, "")) from exc
    rules, seen = [], set()
    for index, rule in enumerate(spec.rules):
        where = f"rules[{index}] ({rule.id})"
        if rule.id in seen:
            raise InvalidRules(f"{where}: the id {rule.id!r} is used twice")
        seen.add(rule.id)
        known = PREDICATES.get(rule.predicate)
        if known is None:
            raise InvalidRules(
                f"{where}: unknown predicate {rule.predicate!r}; known: {', '.join(sorted(PREDICATES))}"
            )
        try:
            params = known.params.model_validate(rule.params)
        except ValidationError as exc:
            raise InvalidRules(f"{where}: {_errors(exc, 'params')}") from exc
        names = set(known.facts) | set(known.params.model_fields)
        _check_text(rule.do, names, f"{where}.do")
        _check_text(rule.why, names, f"{where}.why")
        rules.append(Rule(rule.id, rule.predicate, params, rule.priority, rule.do, rule.why))
    return RuleSet(spec.limit, tuple(rules))


@lru_cache(maxsize=8)
def load_rules(path: str) -> RuleSet:
    """The rules of the file at `path` (read once per process: restart to apply a changed file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRules(f"cannot read it: {exc}") from exc
    return parse_rules(text)


def active_rules() -> RuleSet:
    return load_rules(str(settings.THREADLINE_NBA_RULES))


def check_rules_file(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Django system check: the rules file loads, else the process refuses to start with the reason."""
    path = str(settings.THREADLINE_NBA_RULES)
    try:
        load_rules.cache_clear()
        load_rules(path)
    except InvalidRules as exc:
        return [
            checks.Error(
                f"THREADLINE_NBA_RULES ({path}): {exc}",
                hint="Fix the rules file (see the README, 'Next best actions') or point THREADLINE_NBA_RULES "
                "at a valid one.",
                id="nba.E001",
            )
        ]
    return []


# --- Evaluation -----------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def evaluate(rules: RuleSet, situation: Situation) -> list[dict[str, Any]]:
    """The rules that hold, highest priority first (ties by id), at most `rules.limit`."""
    fired = []
    for rule in rules.rules:
        facts = PREDICATES[rule.predicate].fn(situation, rule.params)
        if facts is None:
            continue
        fields = {**rule.params.model_dump(), **facts}
        fired.append(
            {
                "id": rule.id,
                "priority": rule.priority,
                "do": rule.do.format_map(fields),
                "why": rule.why.format_map(fields),
                "facts": {k: _json(v) for k, v in facts.items()},
            }
        )
    fired.sort(key=lambda a: (-a["priority"], a["id"]))
    return fired[: rules.limit]

"""Reads of reachability: the stored facts of a customer's identifiers turned into "now" values."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings

from interactions.callbacks.hours import HORIZON, InvalidHours, WeeklyHours, next_allowed
from interactions.identity.identifiers import whatsapp_number, whatsapp_older_form
from interactions.reachability.models import ReachFact

WHATSAPP_WINDOW = timedelta(hours=24)  # Meta's customer-service window after the customer's last message


@lru_cache(maxsize=64)
def _calling_hours(spec: str, tz: str) -> WeeklyHours:
    return WeeklyHours.parse(spec, tz)


def _channel(open_: bool | None, why: str, **more: Any) -> dict[str, Any]:
    return {"open": open_, "until": None, "next_open": None, "why": why, "identifiers": [], **more}


def _minutes(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def _whatsapp(phones: list[str], facts: dict[str, ReachFact], now: datetime) -> dict[str, Any]:
    entries = []
    for uri in phones:
        fact = facts.get(uri)
        if fact is None or fact.whatsapp_inbound_at is None:
            continue
        until = fact.whatsapp_inbound_at + WHATSAPP_WINDOW
        is_open = now < until
        why = (
            f"closes in {_minutes(until - now)}, 24 h after their last WhatsApp message"
            if is_open
            else "closed: their last WhatsApp message is more than 24 h old; only an approved template may "
            "start a conversation"
        )
        entries.append(
            {"identifier": uri, "open": is_open, "until": until, "at": fact.whatsapp_inbound_at, "why": why}
        )
    if not entries:
        return _channel(
            False,
            "no WhatsApp message from them yet: only an approved template may start a conversation",
        )
    best = max(entries, key=lambda e: e["until"])
    result = _channel(best["open"], best["why"], identifiers=entries)
    result["until"] = best["until"] if best["open"] else None
    return result


def _sms(phones: list[str], facts: dict[str, ReachFact]) -> dict[str, Any]:
    if not phones:
        return _channel(False, "no phone number known")
    entries = []
    for uri in phones:
        fact = facts.get(uri)
        out_at = fact.sms_opt_out_at if fact else None
        in_at = fact.sms_opt_in_at if fact else None
        if out_at is not None and (in_at is None or in_at < out_at):
            entries.append(
                {
                    "identifier": uri,
                    "open": False,
                    "until": None,
                    "at": out_at,
                    "why": f"opted out: they texted {fact.sms_opt_out_keyword}; they opt in again by texting "
                    "START, YES or UNSTOP",
                }
            )
        elif out_at is not None:
            entries.append(
                {"identifier": uri, "open": True, "until": None, "at": in_at, "why": "opted in again"}
            )
    reachable = [uri for uri in phones if not any(e["identifier"] == uri and not e["open"] for e in entries)]
    if not reachable:
        return _channel(False, "every number they have has opted out", identifiers=entries)
    why = "no opt-out" if not entries else f"{reachable[0]} has not opted out"
    return _channel(True, why, identifiers=entries)


def _email(addresses: list[str], facts: dict[str, ReachFact]) -> dict[str, Any]:
    if not addresses:
        return _channel(False, "no e-mail address known")
    entries = []
    for uri in addresses:
        fact = facts.get(uri)
        bounced = fact.email_bounced_at if fact else None
        if bounced is None:
            continue
        if fact.email_inbound_at is None or fact.email_inbound_at < bounced:
            why = "hard-bounced; an e-mail from them from this address clears it"
            entries.append({"identifier": uri, "open": False, "until": None, "at": bounced, "why": why})
        else:
            why = "hard-bounced before, but they have written from it since"
            entries.append(
                {"identifier": uri, "open": True, "until": None, "at": fact.email_inbound_at, "why": why}
            )
    good = [uri for uri in addresses if not any(e["identifier"] == uri and not e["open"] for e in entries)]
    if not good:
        return _channel(False, "every address they have hard-bounced", identifiers=entries)
    return _channel(
        True, "no hard bounce" if not entries else f"{good[0]} has not bounced", identifiers=entries
    )


def _voice(phones: list[str], timezone: str | None, now: datetime) -> dict[str, Any]:
    if not phones:
        return _channel(False, "no phone number known")
    if not timezone:
        return _channel(
            None,
            "their time zone is not known, so their calling hours "
            f"({settings.THREADLINE_CUSTOMER_CALLING_HOURS} local) cannot be checked",
        )
    spec = settings.THREADLINE_CUSTOMER_CALLING_HOURS
    try:
        hours = _calling_hours(spec, timezone)
    except InvalidHours:  # a zone this machine's tz database no longer knows (checked when it was posted)
        return _channel(
            None, f"their time zone {timezone!r} is not known here, so their calling hours cannot be checked"
        )
    local = now.astimezone(hours.tz).strftime("%H:%M")
    if hours.is_open(now):
        until = hours.intervals(now, now + HORIZON)[0][1]
        result = _channel(True, f"inside their calling hours ({spec}); {local} for them, {timezone}")
        result["until"] = until
        return result
    result = _channel(False, f"outside their calling hours ({spec}); {local} for them, {timezone}")
    result["next_open"] = next_allowed(now, [hours])
    return result


def _one_per_number(phones: list[str], facts: dict[str, ReachFact]) -> list[str]:
    """The phone numbers, each once: the identifier an older Brazilian WhatsApp id made (`tel:+551187654321`,
    linked beside the number it stands for) is that number, not a second one that "has not opted out". Its
    facts join the number's, each the later of the two (`facts` is updated in place)."""
    numbers: list[str] = []
    for uri in phones:
        digits = uri.removeprefix("tel:+")
        number = f"tel:+{whatsapp_number(digits)}" if whatsapp_older_form(digits) else uri
        if number != uri and (older := facts.get(uri)) is not None:
            facts[number] = _later_of(facts.get(number), older, number)
        if number not in numbers:
            numbers.append(number)
    return numbers


_TIMES = ("whatsapp_inbound_at", "sms_opt_out_at", "sms_opt_in_at", "email_bounced_at", "email_inbound_at")


def _later_of(fact: ReachFact | None, other: ReachFact, address: str) -> ReachFact:
    """One number's facts from two forms of it: each time the later, the keyword of the later opt-out."""
    forms = [f for f in (fact, other) if f is not None]
    merged = ReachFact(address=address)
    for name in _TIMES:
        setattr(merged, name, max((getattr(f, name) for f in forms if getattr(f, name)), default=None))
    opted_out = [f for f in forms if f.sms_opt_out_at is not None]
    if opted_out:
        merged.sms_opt_out_keyword = max(opted_out, key=lambda f: f.sms_opt_out_at).sms_opt_out_keyword
    return merged


def reachable_get(identifiers: list[str], timezone: str | None, now: datetime) -> dict[str, Any]:
    """Per channel (whatsapp, sms, email, voice): whether the hub may contact the customer at `now`, until
    when, why, and the identifiers that matter (an opted-out number, a bounced address). One query."""
    facts = {}
    if identifiers:
        marks = ", ".join(["%s"] * len(identifiers))
        sql = f"SELECT * FROM {ReachFact._meta.db_table} WHERE address IN ({marks})"  # no ORM compile: hot
        facts = {f.address: f for f in ReachFact.objects.raw(sql, identifiers)}
    phones = _one_per_number([uri for uri in identifiers if uri.startswith("tel:")], facts)
    addresses = [uri for uri in identifiers if uri.startswith("mailto:")]
    return {
        "whatsapp": _whatsapp(phones, facts, now),
        "sms": _sms(phones, facts),
        "email": _email(addresses, facts),
        "voice": _voice(phones, timezone, now),
    }

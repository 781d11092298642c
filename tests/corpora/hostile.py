"""Hostile inputs: each one a request that must get a 400 or 422 problem naming the field, write nothing,
and get the same answer on SQLite and PostgreSQL (tests/interactions/test_hostile_input.py plays them).

They come from issue 13: values that were stored but could not be read back (poison events), that answered
500, or that were silently changed. Extend it when you add an entry point: an `ENTRY_POINTS` row (how to
send to it) and cases for it.

Bodies are JSON text as it travels, so that what Python's json module cannot write (`1e400`, nesting ten
thousand deep) can be said: `raw("1e400")` inside a value is written as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ASTRAL = "\U00020000"  # CJK Extension B: 1 character, 4 bytes in UTF-8
DEEP = 10_000


@dataclass(frozen=True)
class EntryPoint:
    path: str  # may name {thread} or {callback}: the test makes one of each first
    content_type: str
    role: str  # whose token posts: "integration" (source prefix /sms-gateway/), "supervisor" or "agent"


ENTRY_POINTS = {
    "events.structured": EntryPoint("/api/v1/events", "application/cloudevents+json", "integration"),
    "events.binary": EntryPoint("/api/v1/events", "application/json", "integration"),
    "events.batch": EntryPoint("/api/v1/events", "application/cloudevents-batch+json", "integration"),
    "callbacks.request": EntryPoint("/api/v1/callbacks", "application/json", "supervisor"),
    "callbacks.cancel": EntryPoint("/api/v1/callbacks/{callback}/cancel", "application/json", "supervisor"),
    "threads.resolve": EntryPoint("/api/v1/threads/{thread}/resolve", "application/json", "supervisor"),
    "threads.note": EntryPoint("/api/v1/threads/{thread}/notes", "application/json", "supervisor"),
    "threads.assign": EntryPoint("/api/v1/threads/{thread}/assign", "application/json", "supervisor"),
    "threads.reopen": EntryPoint("/api/v1/threads/{thread}/reopen", "application/json", "supervisor"),
    "nba.taken": EntryPoint(
        "/api/v1/customers/{customer}/next-best-actions/apologise-for-bad-rating/taken",
        "application/json",
        "agent",
    ),
    "nba.dismissed": EntryPoint(
        "/api/v1/customers/{customer}/next-best-actions/own-repeat-contact/dismissed",
        "application/json",
        "agent",
    ),
    "followups.close": EntryPoint("/api/v1/followups/{followup}/close", "application/json", "agent"),
    "followups.callback": EntryPoint(
        "/api/v1/followups/{followup}/callback", "application/json", "supervisor"
    ),
}


@dataclass(frozen=True)
class Case:
    name: str  # what is hostile about it
    entry: str  # a key of ENTRY_POINTS
    body: str  # the body as sent
    status: int  # 400 or 422
    field: str  # the field the problem names; a deep path need only start with it
    index: int | None = None  # the event's index, in a batch
    headers: dict[str, str] = field(default_factory=dict)  # binary mode: ce-* headers as sent


def raw(text: str) -> str:
    """A value written into the JSON text as it is (a number JSON can say but Python cannot write)."""
    return f"<<raw:{text}>>"


def deep(levels: int = DEEP) -> str:
    return raw("[" * levels + "]" * levels)


def as_json(value: Any) -> str:
    return re.sub(r'"<<raw:(.*?)>>"', r"\1", json.dumps(value), flags=re.DOTALL)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid structured-mode event with some attributes replaced."""
    values = {
        "specversion": "1.0",
        "id": "hostile-1",
        "source": "/sms-gateway/hostile",
        "type": "message.received",
        "subject": "tel:+15551234567",
        "time": "2026-11-23T10:00:00Z",
        "data": {"channel": "sms", "text": "hello"},
    }
    return {**values, **overrides}


def data(**fields: Any) -> dict[str, Any]:
    return {"channel": "sms", "text": "hello", **fields}


def structured(name: str, status: int, field_: str, **overrides: Any) -> Case:
    return Case(name, "events.structured", as_json(event(**overrides)), status, field_)


def batch(name: str, status: int, field_: str, index: int, **overrides: Any) -> Case:
    events = [event(id=f"hostile-{i}") for i in range(3)]
    events[index] = event(**{"id": f"hostile-{index}", **overrides})
    return Case(name, "events.batch", as_json(events), status, field_, index=index)


BINARY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "hostile-1",
    "ce-source": "/sms-gateway/hostile",
    "ce-type": "message.received",
    "ce-subject": "tel:+15551234567",
}


def binary(name: str, status: int, field_: str, body: Any = None, **headers: str) -> Case:
    sent = {**BINARY_HEADERS, **{f"ce-{k}": v for k, v in headers.items()}}
    return Case(name, "events.binary", as_json(body or data()), status, field_, headers=sent)


def twice(body: Any, key: str, again: Any) -> str:
    """`body` as JSON text with `key` (its first occurrence) named again right after, with `again`."""
    text = as_json(body)
    first = re.search(rf'"{re.escape(key)}": ', text)
    assert first, key
    return text[: first.start()] + f'"{key}": {json.dumps(again)}, ' + text[first.start() :]


def rest(name: str, entry: str, status: int, field_: str, body: Any) -> Case:
    return Case(name, entry, body if isinstance(body, str) else as_json(body), status, field_)


def command(name: str, entry: str, field_: str, **body: Any) -> Case:
    return rest(name, entry, 400, field_, body)


def callback(name: str, field_: str, **fields: Any) -> Case:
    body = {"identifier": "tel:+15551234567", "phone": "+15551234567", **fields}
    return rest(name, "callbacks.request", 400, field_, body)


# The `Idempotency-Key` header of every command that takes one, with a body the command would accept.
KEYED_BODIES: dict[str, Any] = {
    "threads.note": {"text": "called back"},
    "threads.assign": {"agent_id": "00000000-0000-4000-8000-000000000007"},
    "threads.resolve": {},
    "threads.reopen": {},
    "nba.taken": {},
    "nba.dismissed": {},
    "callbacks.request": {"identifier": "tel:+15551234567", "phone": "+15551234567"},
    "followups.close": {"action": "called_back"},
    "followups.callback": {},
}
HOSTILE_KEYS = {
    "empty": "",
    "of 256 characters": "k" * 256,
    "holding a space": "retry me",
    "holding a tab": "retry\tme",
    "holding a DEL": "retry\x7f",
    "not ASCII": "caf\u00e9",
    "a lone surrogate written as Latin-1 bytes": "\u00ed\u00a0\u00bd",  # what UTF-8 of U+D83D arrives as
}


def keyed(name: str, entry: str, key: str) -> Case:
    body = as_json(KEYED_BODIES[entry])
    return Case(
        f"Idempotency-Key {name} ({entry})",
        entry,
        body,
        400,
        "Idempotency-Key",
        headers={"Idempotency-Key": key},
    )


NO_SUCH_THREAD = "00000000-0000-4000-8000-0000000000a1"
MAILTO_TOO_LONG_ONCE_LOWER_CASED = "mailto:a@" + ("\u0130" * 60 + ".") * 4 + "com"  # İ lower-cases to 2

CASES = [
    # --- 1. poison events: stored, then unreadable or unindexable --------------------------------------
    structured("time after 9999 once in UTC", 422, "time", time="9999-12-31T23:59:59-14:00"),
    structured("time before year 1 once in UTC", 422, "time", time="0001-01-01T00:00:00+14:00"),
    structured("time on Python's last day", 422, "time", time="9999-12-31T23:59:59Z"),
    structured("time after the range (2200)", 422, "time", time="2200-01-01T00:00:00Z"),
    structured("time before the range (1969)", 422, "time", time="1969-12-31T23:59:59Z"),
    structured("time on 30 February", 422, "time", time="2026-02-30T10:00:00Z"),
    structured("source of 1,020 characters from U+20000", 422, "source", source="/" + ASTRAL * 1019),
    structured("source of 1,025 bytes", 422, "source", source="/sms-gateway/" + "x" * 1012),
    structured("id of 257 bytes", 422, "id", id="x" + ASTRAL * 64),
    structured(
        "conversation_ref of 998 characters from U+20000",
        422,
        "data.conversation_ref",
        data=data(conversation_ref=ASTRAL * 998),
    ),
    structured("in_reply_to of 999 bytes", 422, "data.in_reply_to", data=data(in_reply_to="<" + "é" * 499)),
    structured(
        "a references entry of 999 bytes",
        422,
        "data.references.1",
        data=data(references=["<a@b>", "é" * 499 + "x"]),
    ),
    structured(
        "subject over 320 bytes once normalised", 422, "subject", subject=MAILTO_TOO_LONG_ONCE_LOWER_CASED
    ),
    structured(
        "identifier over 320 bytes once normalised",
        422,
        "data.identifiers",
        data=data(identifiers=[MAILTO_TOO_LONG_ONCE_LOWER_CASED]),
    ),
    structured(
        "birthday as a Unix timestamp",
        422,
        "data.birthday",
        type="customer.profile_updated",
        data={"birthday": 0},
    ),
    structured(
        "birthday as a datetime",
        422,
        "data.birthday",
        type="customer.profile_updated",
        data={"birthday": "2020-01-01T00:00:00Z"},
    ),
    structured(
        "the server's own zone (localtime) as a customer's",
        422,
        "data.timezone",
        type="customer.profile_updated",
        data={"timezone": "localtime"},
    ),
    structured(
        "a leap-second zone (right/UTC) as a customer's",
        422,
        "data.timezone",
        type="customer.profile_updated",
        data={"timezone": "right/UTC"},
    ),
    structured(
        "a language that is no language tag",
        422,
        "data.language",
        type="customer.profile_updated",
        data={"language": "!!"},
    ),
    structured(
        "a preferred channel no customer is reached on",
        422,
        "data.preferences",
        type="customer.profile_updated",
        data={"preferences": {"channel": "pigeon"}},
    ),
    structured(
        "a preferred channel that is not text",
        422,
        "data.preferences",
        type="customer.profile_updated",
        data={"preferences": {"channel": ["sms"]}},
    ),
    structured(
        "thread_id as a URN naming no thread",
        422,
        "data.thread_id",
        data=data(thread_id="urn:uuid:0b0e6a8e-4a34-4ab3-9f0b-3b8f0f0f0f0f"),
    ),
    # --- 2. what answered 500 ------------------------------------------------------------------------
    structured("NUL in data.text", 422, "data.text", data=data(text="a\x00b")),
    structured("NUL in a key of data", 422, "data.k\\u0000", data=data(**{"k\x00": 1})),
    structured("NUL in id", 422, "id", id="a\x00b"),
    structured("NUL in source", 422, "source", source="/sms-gateway/\x00"),
    structured("NUL in subject", 422, "subject", subject="tel:+1555\x001234567"),
    structured("NUL in type", 422, "type", type="message.received\x00"),
    structured("NUL in an extension attribute", 422, "myext", myext="a\x00"),
    structured("NUL in an extension attribute's name", 422, "my\\u0000ext", **{"my\x00ext": "a"}),
    structured("NUL in dataschema", 422, "dataschema", dataschema="https://example.com/\x00"),
    structured("lone surrogate in id", 422, "id", id="coll-\ud800"),
    structured("lone surrogate in data.text", 422, "data.text", data=data(text="a\udc00")),
    structured("lone surrogate in a key of data", 422, "data.k\\udfff", data=data(**{"k\udfff": 1})),
    structured("1e400 in data", 422, "data.amount", data=data(amount=raw("1e400"))),
    structured("-1e400 deep in data", 422, "data.items.0.n", data=data(items=[{"n": raw("-1e400")}])),
    structured("1e400 as an extension attribute", 422, "myext", myext=raw("1e400")),
    structured("1e400 as the time", 422, "time", time=raw("1e400")),
    structured('"schemaversion": true', 422, "schemaversion", schemaversion=True),
    structured('"schemaversion": 1.0', 422, "schemaversion", schemaversion=1.0),
    structured("an integer extension past 32 bits", 422, "myext", myext=2**31),
    structured("dataschema that is an object", 422, "dataschema", dataschema={"a": [1]}),
    # --- a key named twice: parsers differ on which value counts (Python's keeps the last), so a gateway that
    # checked one could pass a body whose other the hub acted on: refused, naming the key ---------------
    rest(
        "subject named twice",
        "events.structured",
        400,
        "subject",
        twice(event(), "subject", "tel:+15550000000"),
    ),
    rest("data.text named twice", "events.structured", 400, "data.text", twice(event(), "text", "another")),
    Case(
        "id named twice in the second event of a batch",
        "events.batch",
        f"[{as_json(event(id='hostile-0'))}, {twice(event(id='hostile-1'), 'id', 'x')}]",
        400,
        "id",
        index=1,
    ),
    Case(
        "binary data's text named twice",
        "events.binary",
        twice(data(), "text", "x"),
        400,
        "data.text",
        headers=BINARY_HEADERS,
    ),
    rest(
        "a callback's phone named twice",
        "callbacks.request",
        400,
        "phone",
        twice({"identifier": "tel:+15551234567", "phone": "+15551234567"}, "phone", "+15550000000"),
    ),
    rest("a note's text named twice", "threads.note", 400, "text", twice({"text": "called"}, "text", "x")),
    rest(
        "an assignee named twice",
        "threads.assign",
        400,
        "agent_id",
        twice({"agent_id": "00000000-0000-4000-8000-000000000007"}, "agent_id", "x"),
    ),
    rest("a take-up's reason named twice", "nba.taken", 400, "reason", twice({"reason": "a"}, "reason", "x")),
    structured("data nested 10,000 deep", 400, "data.nest", data=data(nest=deep())),
    structured("data nested 100 deep", 400, "data.nest", data=data(nest=deep(100))),
    structured("an extension nested 10,000 deep", 400, "myext", myext=deep()),
    rest("a structured body nested 10,000 deep", "events.structured", 400, "0", "[" * DEEP + "]" * DEEP),
    binary("binary data nested 10,000 deep", 400, "data.nest", body=data(nest=deep())),
    binary("1e400 in binary data", 422, "data.amount", body=data(amount=raw("1e400"))),
    binary("NUL in a percent-encoded ce-id", 422, "id", id="a%00b"),
    binary("time after 9999 in ce-time", 422, "time", time="9999-12-31T23:59:59-14%3A00"),
    binary("ce-source of 1,020 characters from U+20000", 422, "source", source="/" + "%F0%A0%80%80" * 1019),
    batch("NUL in the id of the second event", 422, "id", 1, id="a\x00b"),
    batch("time after 9999 in the third event", 422, "time", 2, time="9999-12-31T23:59:59-14:00"),
    batch("1e400 in the first event's data", 422, "data.amount", 0, data=data(amount=raw("1e400"))),
    batch("data nested 10,000 deep in the second event", 400, "data.nest", 1, data=data(nest=deep())),
    callback("at on 30 February", "at", at="2026-02-30T10:00:00Z"),
    callback("at at 25 o'clock", "at", at="2026-11-23T25:00:00Z"),
    callback("at at minute 99", "at", at="2026-11-23T12:99:00Z"),
    callback("at after 9999 in UTC", "at", at="9999-12-31T23:59:59-14:00"),
    callback("window_end in 2200", "window_end", window_end="2200-01-01T00:00:00Z"),
    callback("reason nested 10,000 deep", "reason", reason=deep()),
    callback("NUL in reason", "reason", reason="a\x00"),
    callback("NUL in an unknown key", "x\\u0000", **{"x\x00": 1}),
    callback("1e400 in an unknown field", "x", x=raw("1e400")),
    callback("lone surrogate in identifier", "identifier", identifier="tel:\ud800"),
    rest("a callback body nested 10,000 deep", "callbacks.request", 400, "0", "[" * DEEP + "]" * DEEP),
    command("NUL in the cancel reason", "callbacks.cancel", "reason", reason="a\x00"),
    command("cancel reason nested 10,000 deep", "callbacks.cancel", "reason", reason=deep()),
    command("NUL in the resolve reason", "threads.resolve", "reason", reason="done\x00"),
    command("expected_version 1e400", "threads.resolve", "expected_version", expected_version=raw("1e400")),
    command("note text nested 10,000 deep", "threads.note", "text", text=deep()),
    command("lone surrogate in a note", "threads.note", "text", text="\ud83d"),
    command("lone surrogate in agent_id", "threads.assign", "agent_id", agent_id="\udead"),
    command("NUL in a taken reason", "nba.taken", "reason", reason="done\x00"),
    command("taken reason nested 10,000 deep", "nba.taken", "reason", reason=deep()),
    command("taken reason of 2,001 characters", "nba.taken", "reason", reason="x" * 2001),
    command("lone surrogate in a dismissed reason", "nba.dismissed", "reason", reason="\ud83d"),
    command("thread_id 1e400", "nba.dismissed", "thread_id", thread_id=raw("1e400")),
    command("thread_id that is not a UUID", "nba.taken", "thread_id", thread_id="thread-1"),
    command("thread_id of no thread", "nba.taken", "thread_id", thread_id=NO_SUCH_THREAD),
    rest("a taken body nested 10,000 deep", "nba.taken", 400, "0", "[" * DEEP + "]" * DEEP),
    # --- follow-ups: a close's action and note, a callback's window ------------------------------------
    command("no action for a close", "followups.close", "action"),
    command("an action that is not one of the four", "followups.close", "action", action="ignored"),
    command("an action nested 10,000 deep", "followups.close", "action", action=deep()),
    command("NUL in a close note", "followups.close", "note", action="explained", note="a\x00"),
    command("lone surrogate in a close note", "followups.close", "note", action="explained", note="\ud83d"),
    command("close note of 2,001 characters", "followups.close", "note", action="explained", note="x" * 2001),
    command("close note nested 10,000 deep", "followups.close", "note", action="explained", note=deep()),
    command("1e400 as a close note", "followups.close", "note", action="explained", note=raw("1e400")),
    rest(
        "a close note named twice", "followups.close", 400, "note",
        twice({"action": "explained", "note": "a"}, "note", "b"),
    ),
    rest("a close body nested 10,000 deep", "followups.close", 400, "0", "[" * DEEP + "]" * DEEP),
    command("a follow-up callback at on 30 February", "followups.callback", "at", at="2026-02-30T10:00:00Z"),
    command("a follow-up callback at in the past", "followups.callback", "at", at="2020-01-01T00:00:00Z"),
    command("a follow-up callback in no zone", "followups.callback", "timezone", timezone="Mars/Base"),
    command("a follow-up phone with an extension", "followups.callback", "phone", phone="+15551234567;ext=9"),
    command("NUL in a follow-up callback reason", "followups.callback", "reason", reason="a\x00"),
    command(
        "a follow-up callback window ending before it starts", "followups.callback", "window_end",
        at="2099-01-01T10:00:00Z", window_end="2099-01-01T09:00:00Z",
    ),
    # --- 3. events silently lost -----------------------------------------------------------------------
    binary("ce-id that is not UTF-8 once percent-decoded (%FF)", 400, "id", id="coll-1%FF"),
    binary("ce-id that is not UTF-8 once percent-decoded (%FE)", 400, "id", id="coll-1%FE"),
    binary("ce-source cut in the middle of a character", 400, "source", source="/sms-gateway/%C3"),
    binary("ce-myext sent as raw bytes that are not UTF-8", 400, "myext", myext="caf\xe9"),
    # --- 6. what the OpenAPI description says is refused (found by schemathesis) -----------------------
    structured("dataschema that is not an absolute URI", 422, "dataschema", dataschema="schemas/1"),
    structured("dataschema with a space", 422, "dataschema", dataschema="https://x.example/a b"),
    structured("dataschema ending in a newline", 422, "dataschema", dataschema="https://x.example/a\n"),
    structured("source holding a byte order mark", 422, "source", source="/sms-gateway/\ufeff"),
    structured("id that is only a byte order mark", 422, "id", id="\ufeff"),
    structured(
        "consent given as 0 (strict: a consent is true or false)", 422, "data.consent.sms",
        type="customer.profile_updated", data={"consent": {"sms": 0}},
    ),
    # --- 8. outcomes: money as exact decimal strings, ISO 4217 currencies ----------------------------------
    *(
        structured(f"an outcome's {name}", 422, f"data.{field_}", type="outcome.recorded",
                   data={"kind": "sale", "value": "19.99", "currency": "EUR", **fields})
        for name, field_, fields in [
            ("value as a float", "value", {"value": raw("19.99")}),
            ("value as 1e400", "value", {"value": raw("1e400")}),
            ("value of 5 decimals", "value", {"value": "0.00001"}),
            ("negative value", "value", {"value": "-19.99"}),
            ("value of a thousand million", "value", {"value": "1000000000"}),
            ("value of 10,000 digits", "value", {"value": "9" * 10_000}),
            ("value with a NUL", "value", {"value": "19.99\x00"}),
            ("value in full-width digits", "value", {"value": "\uff11\uff19"}),
            ("value with an astral character", "value", {"value": "1" + ASTRAL}),
            ("value of Infinity", "value", {"value": "Infinity"}),
            ("currency in lower case", "currency", {"currency": "eur"}),
            ("withdrawn currency", "currency", {"currency": "HRK"}),
            ("currency with a NUL", "currency", {"currency": "EU\x00"}),
            ("currency with a right-to-left override", "currency", {"currency": "\u202eEUR"}),
            ("currency as a number", "currency", {"currency": raw("978")}),
            ("kind in capitals", "kind", {"kind": "SALE"}),
            ("reference of 257 characters", "reference", {"reference": "r" * 257}),
        ]
    ),
    # --- 9. journeys: self_service is strictly true or false ------------------------------------------------
    structured(
        "self_service as the string yes", 422, "data.self_service",
        data={"channel": "chat", "text": "hi", "self_service": "yes"},
    ),
    structured(
        "self_service as 1 on a call", 422, "data.self_service", type="call.started",
        data={"direction": "inbound", "conversation_ref": "c1", "self_service": 1},
    ),
    batch(
        "an outcome's float value in the second event of a batch", 422, "data.value", 1,
        type="outcome.recorded", data={"kind": "refund", "value": raw("0.1"), "currency": "USD"},
    ),
    # --- 7. a malformed Idempotency-Key, on every command that takes one ---------------------------------
    *(keyed(name, entry, key) for entry in KEYED_BODIES for name, key in HOSTILE_KEYS.items()),
]  # fmt: skip


# --- The agent websocket: frames answered with an error frame naming the field; the socket stays open ------


@dataclass(frozen=True)
class FrameCase:
    name: str
    frame: str  # the text frame as sent
    code: str  # the error frame's code
    field: str  # the detail starts with it


def frame(name: str, code: str, field_: str, **values: Any) -> FrameCase:
    return FrameCase(name, as_json(values), code, field_)


CALLBACK_C1 = "00000000-0000-4000-8000-0000000000c1"
FRAME_CASES = [
    frame("a frame nested 10,000 deep", "bad_json", "x.0.0", op="ping", x=deep()),
    FrameCase(
        "the op named twice", '{"op": "ping", "op": "subscribe", "topics": ["agent:me"]}', "bad_json", "op"
    ),
    FrameCase(
        "a topic list named twice",
        twice({"op": "subscribe", "topics": ["agent:me"]}, "topics", ["customer:x"]),
        "bad_json",
        "topics",
    ),
    frame("NUL in a topic", "bad_frame", "topics.0", op="subscribe", topics=["customer:\x00"]),
    frame("lone surrogate in a status", "bad_frame", "value", op="status", value="available\ud800"),
    frame("lone surrogate in a decline reason", "bad_frame", "reason", op="decline", reason="\udc00"),
    frame("NUL in a key", "bad_frame", "k\\u0000", op="ping", **{"k\x00": 1}),
    frame(
        "1e400 as the cursor", "bad_frame", "after", op="subscribe", topics=["agent:me"], after=raw("1e400")
    ),
    # An object or a list as the op: a TypeError ended the consumer, and its heartbeat kept the agent online.
    frame("an object as the op", "unknown_op", "op", op={"x": 1}),
    frame("a list as the op", "unknown_op", "op", op=["ping"]),
    # Over REST a reason is at most 2,000 characters; over the socket it was unbounded, kept in the log.
    frame(
        "a decline reason of 2,001 characters",
        "bad_frame",
        "reason",
        op="decline",
        callback_id="00000000-0000-4000-8000-0000000000c1",
        reason="x" * 2001,
    ),
    frame("a frame over 64 KiB", "too_large", "a frame", op="ping", pad="x" * 65_536),
    # Over REST a reason or note that is not text is a 400; over the socket it was dropped, stored as null.
    frame(
        "an object as a decline reason",
        "bad_frame",
        "reason",
        op="decline",
        callback_id="00000000-0000-4000-8000-0000000000c1",
        reason={"why": "on a break"},
    ),
    frame(
        "a number as an outcome note",
        "bad_frame",
        "note",
        op="outcome",
        callback_id="00000000-0000-4000-8000-0000000000c1",
        outcome="completed",
        note=42,
    ),
    # The offer an answer names (its attempt and number) is a whole number from 1, as over REST.
    frame("an offer number 0", "bad_frame", "offer", op="accept", callback_id=CALLBACK_C1, offer=0),
    frame("an attempt as text", "bad_frame", "attempt", op="decline", callback_id=CALLBACK_C1, attempt="1"),
    frame("a boolean offer", "bad_frame", "offer", op="decline", callback_id=CALLBACK_C1, offer=True),
    frame("an attempt of 2**31", "bad_frame", "attempt", op="accept", callback_id=CALLBACK_C1, attempt=2**31),
]


# --- Twilio's hooks (interactions/adapters/twilio): signed form posts answered 400 naming the parameter (or
# the event field the pipeline refused); nothing written, nothing counted. Played by
# tests/interactions/adapters/test_twilio.py, signed with Twilio's own validator.


@dataclass(frozen=True)
class TwilioCase:
    name: str
    purpose: str  # the hook: messaging, message-status, voice, recording, transcription
    build: Any  # () -> the form parameters (a dict, or a list of pairs for repeated names)
    status: int
    field: str  # a Twilio parameter, or the event field the pipeline names

    def params(self) -> Any:
        return self.build()


def _twilio() -> Any:
    from tests.interactions.adapters import twilio_payloads

    return twilio_payloads


def _sms(**overrides: str) -> Any:
    return lambda: _twilio().inbound_sms(**overrides)


def _call(status: str = "completed", **overrides: str) -> Any:
    return lambda: _twilio().call_status(_twilio().sid("CA"), status, **overrides)


TWILIO_CASES = [
    TwilioCase("NUL in Body", "messaging", _sms(Body="hello\x00"), 400, "data.text"),
    TwilioCase("Body over 20,000 characters", "messaging", _sms(Body="x" * 20_001), 400, "Body"),
    TwilioCase(
        "MessageSid with a path in it", "messaging", _sms(MessageSid="SM../../etc/passwd"), 400, "MessageSid"
    ),
    TwilioCase(
        "MessageSid sent twice",
        "messaging",
        lambda: [*_twilio().inbound_sms().items(), ("MessageSid", "SM" + "0" * 32)],
        400,
        "MessageSid",
    ),
    TwilioCase("NumMedia 1e400", "messaging", _sms(NumMedia="1e400"), 400, "NumMedia"),
    TwilioCase("NumMedia -1", "messaging", _sms(NumMedia="-1"), 400, "NumMedia"),
    TwilioCase("NumMedia 99", "messaging", _sms(NumMedia="99"), 400, "NumMedia"),
    TwilioCase(
        "MediaUrl0 over 2,048 characters",
        "messaging",
        _sms(NumMedia="1", MediaUrl0="https://x.example/" + "a" * 2048),
        400,
        "MediaUrl0",
    ),
    TwilioCase("NUL in From", "messaging", _sms(From="whatsapp:+15558675310\x00"), 400, "From"),
    TwilioCase("From of 25 digits", "messaging", _sms(From="+" + "1" * 25), 400, "From"),
    TwilioCase(
        "From with a prefix that is no channel", "messaging", _sms(From="java script:+1555"), 400, "From"
    ),
    TwilioCase("NUL in ProfileName", "messaging", _sms(ProfileName="Jane\x00"), 400, "data.sender_name"),
    TwilioCase(
        "ErrorCode over 64 characters",
        "message-status",
        lambda: _twilio().message_status("SM" + "1" * 32, "failed", ErrorCode="3" * 65),
        400,
        "ErrorCode",
    ),
    TwilioCase(
        "NUL in ErrorMessage",
        "message-status",
        lambda: _twilio().message_status("SM" + "1" * 32, "failed", ErrorMessage="x\x00"),
        400,
        "data.error_message",
    ),
    TwilioCase("CallDuration 1e400", "voice", _call(CallDuration="1e400"), 400, "CallDuration"),
    TwilioCase("CallDuration of ten digits", "voice", _call(CallDuration="9999999999"), 400, "CallDuration"),
    TwilioCase("CallDuration over a week", "voice", _call(CallDuration="604801"), 400, "CallDuration"),
    TwilioCase("Timestamp that is no date", "voice", _call(Timestamp="yesterday"), 400, "Timestamp"),
    TwilioCase(
        "Timestamp without a zone",
        "voice",
        _call(Timestamp="Mon, 23 Nov 2026 10:05:00 -0000"),
        400,
        "Timestamp",
    ),
    TwilioCase("Timestamp in 9999", "voice", _call(Timestamp="Fri, 31 Dec 9999 23:59:59 +0000"), 400, "time"),
    # A year of 20 digits overflowed the date parser: a 500.
    TwilioCase(
        "Timestamp in a year of 20 digits",
        "voice",
        _call(Timestamp="Mon, 23 Nov 99999999999999999999 10:05:00 +0000"),
        400,
        "Timestamp",
    ),
    TwilioCase(
        "Timestamp past 9999 once in UTC",
        "voice",
        _call(Timestamp="Fri, 31 Dec 9999 23:30:00 -0100"),
        400,
        "Timestamp",
    ),
    TwilioCase(
        "RecordingDuration 1e400",
        "recording",
        lambda: _twilio().recording("CA" + "1" * 32, "RE" + "1" * 32, RecordingDuration="1e400"),
        400,
        "RecordingDuration",
    ),
    TwilioCase(
        "RecordingChannels 3",
        "recording",
        lambda: _twilio().recording("CA" + "1" * 32, "RE" + "1" * 32, RecordingChannels="3"),
        400,
        "RecordingChannels",
    ),
    TwilioCase(
        "NUL in TranscriptionText",
        "transcription",
        lambda: _twilio().transcription("CA" + "1" * 32, "RE" + "1" * 32, "a\x00b"),
        400,
        "data.text",
    ),
]


# --- 7. The adapters' hooks: deliveries that pass their signature or secret but cannot be taken ------------
# Each gets a 400 (naming where, when the delivery is JSON), 413 or 415 problem and writes nothing
# (tests/interactions/adapters/test_hook_hostile_input.py signs each Meta body with the app secret and sends
# each e-mail with the connection's bearer secret).


@dataclass(frozen=True)
class HookCase:
    name: str
    hook: str  # "meta" (POST /hooks/meta/<name>/webhook) or "email" (POST /hooks/email/<name>/inbound)
    body: bytes
    status: int
    field: str | None = None  # the field or JSON path a 400 names, when it names one
    content_type: str = "application/json"


def _wa(message: dict[str, Any] | None = None, **value: Any) -> dict[str, Any]:
    """A WhatsApp Cloud API delivery of one message (or of `value`'s lists)."""
    base = {"from": "15551234567", "id": "wamid.hostile", "timestamp": "1795428000", "type": "text"}
    messages = [{**base, "text": {"body": "hello"}, **(message or {})}] if message is not None else []
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": messages, **value}}]}],
    }


def meta(name: str, payload: Any, field_: str | None, status: int = 400) -> HookCase:
    body = payload if isinstance(payload, bytes) else as_json(payload).encode("utf-8", "surrogatepass")
    return HookCase(name, "meta", body, status, field_)


_AT = "$.entry[0].changes[0].value.messages[0]"


def mail(name: str, raw: bytes, status: int = 400, content_type: str = "message/rfc822") -> HookCase:
    return HookCase(name, "email", raw, status, None, content_type)


HOOK_CASES = [
    meta("NUL in a WhatsApp text", _wa({"text": {"body": "a\x00b"}}), "data.text"),
    meta("lone surrogate in a WhatsApp text", _wa({"text": {"body": "a\ud800"}}), "data.text"),
    meta("a body nested 10,000 deep", {"object": "page", "entry": deep()}, "$.entry" + "[0]" * 63),
    meta("a WhatsApp text's body named twice", twice(_wa({}), "body", "other").encode(), f"{_AT}.text.body"),
    meta("the object named twice", twice(_wa({}), "object", "page").encode(), "$.object"),
    meta("1e400 as a timestamp", _wa({"timestamp": raw("1e400")}), None),
    meta("a timestamp in 2200", _wa({"timestamp": "7258118400"}), f"{_AT}.timestamp"),
    meta("a superscript two as a timestamp", _wa({"timestamp": "\u00b2"}), f"{_AT}.timestamp"),
    meta("Arabic-Indic digits as a timestamp", _wa({"timestamp": "\u0661\u0667\u0669"}), f"{_AT}.timestamp"),
    meta("a timestamp of 4,301 digits", _wa({"timestamp": "9" * 4301}), f"{_AT}.timestamp"),
    meta("a Messenger timestamp of 400 digits", {"object": "page", "entry": [{"id": "1", "messaging": [
        {"sender": {"id": "1234"}, "timestamp": raw("9" * 400), "message": {"mid": "m_1", "text": "x"}},
    ]}]}, "$.entry[0].messaging[0].timestamp"),
    meta("a wamid of 999 bytes", _wa({"id": "é" * 499 + "x"}), f"{_AT}.id"),
    meta("a WhatsApp id that is not digits", _wa({"from": "+1555123"}), f"{_AT}.from"),
    meta("a WhatsApp id that is no possible number", _wa({"from": "1"}), f"{_AT}.from"),
    meta("a latitude of 1e400", _wa({"type": "location", "location": {"latitude": raw("1e400")}}), None),
    meta("a latitude out of range", _wa({"type": "location", "location": {"latitude": 91, "longitude": 0}}),
         f"{_AT}.location"),
    meta("a text body that is a number", _wa({"text": {"body": 7}}), f"{_AT}.text.body"),
    meta("entry that is an object", {"object": "page", "entry": {"id": "1"}}, "$.entry"),
    meta("a Messenger sender with NUL", {"object": "page", "entry": [{"id": "1", "messaging": [
        {"sender": {"id": "12\x0034"}, "timestamp": 1795428000000, "message": {"mid": "m_1", "text": "x"}},
    ]}]}, "$.entry[0].messaging[0].sender.id"),
    meta("a body that is not UTF-8", b'{"object": "page\xff"}', None),
    meta("NaN", b'{"object": "page", "entry": [], "n": NaN}', None),
    mail("no header at all", b"only words\r\n"),
    mail("a From without an address", b"From: nobody\r\nSubject: x\r\n\r\nbody\r\n"),
    mail("a From holding a card number", b"From: 4111111111111111@example.com\r\n\r\nbody\r\n"),
    mail("a form without the email field",
         b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--b--\r\n",
         content_type="multipart/form-data; boundary=b"),
    mail("a form cut short", b"--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nFrom: a@b.c",
         content_type="multipart/form-data; boundary=b"),
    mail("a form without a boundary", b"--b--\r\n", content_type="multipart/form-data"),
    mail("a JSON body", b'{"email": "From: a@b.c"}', 415, "application/json"),
    mail("header comments nested 800 deep",
         b"From: jane@example.com " + b"(" * 800 + b")" * 800 + b"\r\nMessage-ID: <c@x>\r\n\r\nhi\r\n"),
    mail("a From of 20,000 encoded words before its address",
         b"From: " + b"=?utf-8?q?a?= " * 20_000 + b"<jane@example.com>\r\nMessage-ID: <w@x>\r\n\r\nhi\r\n"),
    mail("multiparts nested 1,000 deep", b"From: j@example.com\r\nMessage-ID: <m@x>\r\nMIME-Version: 1.0\r\n"
         + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                    for i in range(1000))
         + b"hi\r\n"),
    mail("message/rfc822 nested 1,500 deep", b"From: j@example.com\r\nMessage-ID: <r@x>\r\n"
         + b"Content-Type: message/rfc822\r\n\r\n" * 1500 + b"hi\r\n"),
]  # fmt: skip


# --- 8. Commands an operator runs, and the desk's sign-in form ----------------------------------------------
# Each command gets a CommandError whose sentence names what is wrong, and writes nothing: no user, token or
# connection (tests/interactions/test_hostile_input.py). A value the shell passes is any string, lone
# surrogates included (bytes that are not UTF-8 reach Python as surrogate escapes).

SECRET = "corpus-secret-0123456789abcdef"
USER_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class CommandCase:
    name: str
    args: tuple[str, ...]  # manage.py's arguments, the command first
    says: str  # a part of the CommandError's sentence


def _user(name: str = "hostile", *more: str) -> tuple[str, ...]:
    return ("create_user", name, "--role", "agent", "--password", USER_PASSWORD, *more)


def _token(*args: str) -> tuple[str, ...]:
    return ("create_token", *args)


def _connection(*args: str) -> tuple[str, ...]:
    return ("add_connection", *args)


COMMAND_CASES = [
    CommandCase("create_user: NUL in the name", _user("a\x00b"), "the name contains NUL"),
    CommandCase("create_user: a lone surrogate in the name", _user("a\udcff"),
                "the name contains a lone surrogate"),
    CommandCase("create_user: a name of 151 characters", _user("a" * 151), "longer than 150 characters"),
    CommandCase("create_user: a space in the name", _user("ann lee"), "not a valid username"),
    CommandCase("create_user: a name of spaces", _user("   "), "a name is required"),
    CommandCase("create_user: NUL in a skill", _user("ann", "--skills", "billing,a\x00"),
                "skill 2 contains NUL"),
    CommandCase("create_user: a skill of 121 characters", _user("ann", "--skills", "x" * 121),
                "skill 1 is longer than 120"),
    CommandCase("create_user: a lone surrogate in the password",
                ("create_user", "ann", "--role", "agent", "--password", "pass\udcffword-long-enough"),
                "the password contains a lone surrogate"),
    CommandCase("create_token: NUL in the name", _token("a\x00", "--role", "agent"), "the name contains NUL"),
    CommandCase("create_token: a blank name", _token(" ", "--role", "agent"), "a token needs a name"),
    CommandCase("create_token: a blank source prefix",
                _token("gw", "--role", "integration", "--source", " "), "needs --source"),
    CommandCase("create_token: a name of 129 characters", _token("a" * 129, "--role", "agent"),
                "the name is longer than 128"),
    CommandCase("create_token: a lone surrogate in the source",
                _token("gw", "--role", "integration", "--source", "/gw/\udcff"),
                "the source prefix contains a lone surrogate"),
    CommandCase("create_token: a right-to-left override in the name",
                _token("gw\u202egnp.exe", "--role", "agent"), "invisible or control character (U+202E)"),
    CommandCase("create_token: a line break in a skill",
                _token("ann", "--role", "agent", "--skills", "bill\ning"),
                "skill 1 holds an invisible or control character (U+000A)"),
    CommandCase("create_token: NUL in a skill", _token("ann", "--role", "agent", "--skills", "\x00"),
                "skill 1 contains NUL"),
    CommandCase("createsuperuser: a right-to-left override in the username",
                ("createsuperuser", "--noinput", "--username", "ad\u202ea", "--email", "a@example.com"),
                "The username holds an invisible or control character (U+202E)"),
    CommandCase("createsuperuser: NUL in the e-mail address",
                ("createsuperuser", "--noinput", "--username", "ada", "--email", "a\x00@example.com"),
                "The email address contains NUL"),
    CommandCase("add_connection: NUL in the name", _connection("email", "a\x00", "--secret", SECRET),
                "must be letters, digits"),
    CommandCase("add_connection: NUL in the secret", _connection("email", "mail", "--secret", "s\x00"),
                "--secret contains NUL"),
    CommandCase("add_connection: a lone surrogate in the auth token",
                _connection("twilio", "sms", "--auth-token", "t\udcff"),
                "--auth-token contains a lone surrogate"),
    CommandCase("add_connection: NUL in the verify token",
                _connection("meta", "wa", "--app-secret", SECRET, "--verify-token", "v\x00"),
                "--verify-token contains NUL"),
    # Accepted, each made every delivery to the connection fail its signature or bearer check.
    CommandCase("add_connection: a blank auth token", _connection("twilio", "sms", "--auth-token", "   "),
                "--auth-token is blank"),
    CommandCase("add_connection: a tab in the auth token",
                _connection("twilio", "sms", "--auth-token", "0123456789abcdef\t0123456789abcdef"),
                "--auth-token holds a space, tab or control character"),
    CommandCase("add_connection: an app secret pasted with its line break",
                _connection("meta", "wa", "--app-secret", SECRET + "\n", "--verify-token", "v"),
                "--app-secret begins or ends with a space or line break"),
    CommandCase("add_connection: a space in the e-mail bearer secret",
                _connection("email", "mail", "--secret", SECRET + " " + SECRET),
                "--secret holds a space, tab or control character"),
    CommandCase("add_connection: a blank verify token",
                _connection("meta", "wa", "--app-secret", SECRET, "--verify-token", " "),
                "--verify-token is blank"),
]  # fmt: skip


# Django's user and group forms in the admin, as an admin could post them (the username or name field only;
# the rest of each form is filled in by the test).
ADMIN_NAME_CASES = {
    "NUL in the name": "a\x00b",
    "a name of 100,000 characters": "a" * 100_000,
    "only spaces": "   ",
    "a right-to-left override and a zero-width space": "ann\u202e\u200b",
}

# The sign-in form: raw bodies as a browser (or anything else) posts them. Each gets the form again with its
# sentence, 200, and signs no one in.
SIGN_IN_CASES = {
    "NUL in the username": b"username=a%00b&password=x",
    "bytes that are not UTF-8": b"username=%ff%fe&password=%ed%bf%bf",
    "a username of 100,000 characters": b"username=" + b"a" * 100_000 + b"&password=x",
    "no fields at all": b"",
    "the username twice": b"username=a&username=b&password=x",
    "a body that is not a form": b"\x00\x01\x02{",
}


# --- Query parameters of the reads that take more than paging ---------------------------------------------


@dataclass(frozen=True)
class QueryCase:
    name: str
    path: str
    role: str  # whose token asks
    params: dict[str, str]
    field: str  # the field the 400 problem names


def _surveys(name: str, field_: str, **params: str) -> QueryCase:
    return QueryCase(name, "/api/v1/analytics/surveys", "supervisor", params, field_)


QUERY_CASES = [
    _surveys("a NUL in a time zone", "timezone", timezone="Europe/Paris\x00"),
    _surveys("a time zone of 10,000 characters", "timezone", timezone="A" * 10_000),
    _surveys("a path for a time zone", "timezone", timezone="../../etc/passwd"),
    _surveys("a POSIX rule for a time zone", "timezone", timezone="EST5EDT,M3.2.0,M11.1.0"),
    _surveys("an astral character in a time", "from", **{"from": "2026-11-20T00:00:00" + ASTRAL + "Z"}),
    _surveys("a NUL in a time", "to", to="2026-11-20T00:00:00\x00Z"),
    _surveys("a year 10000", "to", to="10000-01-01T00:00:00Z"),
    _surveys("a time far before the log can hold", "from", **{"from": "0001-01-01T00:00:00Z"}),
    _surveys("a right-to-left override in a dimension", "group_by", group_by="\u202echannel"),
    _surveys("a dimension in capitals", "group_by", group_by="CHANNEL"),
    _surveys("a metric of spaces", "metric", metric="   "),
    _surveys("a granularity with a NUL", "granularity", granularity="day\x00"),
    _surveys("a format no renderer has", "format", format="xlsx"),
    _surveys("a page of no lines", "limit", limit="0"),
    _surveys("a page longer than the longest", "limit", limit="2001"),
    _surveys("a page of a fraction of a line", "limit", limit="1.5"),
    _surveys("a cursor of 10,000 characters", "cursor", cursor="2" * 10_000),
    _surveys("a cursor with a NUL", "cursor", cursor="2026-11-20\x00"),
    _surveys("a cursor of another granularity", "cursor", cursor="2026-11-20T05:00:00Z"),
    _surveys("a cursor that is no date", "cursor", cursor="2026-02-30"),
    _surveys("a cursor outside the range", "cursor", cursor="1999-01-01"),
    _surveys("a cursor mid-week", "cursor", granularity="week", cursor="2026-11-19"),
    _surveys("a cursor mid-hour", "cursor", granularity="hour", cursor="2026-11-20T05:30:00Z"),
    _surveys("an SQL fragment for a cursor", "cursor", cursor="2026-11-20' OR '1'='1"),
    QueryCase(
        "outcomes: a currency in lower case",
        "/api/v1/analytics/outcomes",
        "supervisor",
        {"currency": "eur"},
        "currency",
    ),
    QueryCase(
        "outcomes: a currency with a NUL",
        "/api/v1/analytics/outcomes",
        "admin",
        {"currency": "EU\x00"},
        "currency",
    ),
    QueryCase(
        "outcomes: a currency of 10,000 characters",
        "/api/v1/analytics/outcomes",
        "supervisor",
        {"currency": "E" * 10_000},
        "currency",
    ),
    QueryCase(
        "outcomes: a withdrawn currency",
        "/api/v1/analytics/outcomes",
        "supervisor",
        {"currency": "VEF"},
        "currency",
    ),
    QueryCase(
        "outcomes: a dimension that is no dimension",
        "/api/v1/analytics/outcomes",
        "supervisor",
        {"group_by": "kind"},
        "group_by",
    ),
    QueryCase(
        "handling: a NUL in a dimension",
        "/api/v1/analytics/handling",
        "supervisor",
        {"group_by": "agent\x00"},
        "group_by",
    ),
    QueryCase(
        "handling: a range of 10,000 days",
        "/api/v1/analytics/handling",
        "admin",
        {"from": "1990-01-01T00:00:00Z", "to": "2017-05-19T00:00:00Z"},
        "to",
    ),
    QueryCase(
        "effort: a week of 1,000 years",
        "/api/v1/analytics/effort",
        "supervisor",
        {"granularity": "year"},
        "granularity",
    ),
    QueryCase(
        "handling: an offset of 25 hours",
        "/api/v1/analytics/handling",
        "supervisor",
        {"from": "2026-01-01T00:00:00+25:00"},
        "from",
    ),
    QueryCase(
        "journeys: grouped by agent (journeys are per objective)",
        "/api/v1/analytics/journeys",
        "supervisor",
        {"group_by": "agent"},
        "group_by",
    ),
    QueryCase(
        "handling: a cursor mid-week",
        "/api/v1/analytics/handling",
        "supervisor",
        {"granularity": "week", "cursor": "2026-11-19"},
        "cursor",
    ),
    QueryCase("effort: a negative page", "/api/v1/analytics/effort", "supervisor", {"limit": "-5"}, "limit"),
    QueryCase(
        "outcomes: a cursor of a day for a read by hour",
        "/api/v1/analytics/outcomes",
        "supervisor",
        {"granularity": "hour", "cursor": "2026-11-20"},
        "cursor",
    ),
    QueryCase(
        "journeys: a page of a million lines",
        "/api/v1/analytics/journeys",
        "supervisor",
        {"limit": "1000000"},
        "limit",
    ),
    QueryCase(
        "journeys: a topic dimension with a zero-width space",
        "/api/v1/analytics/journeys",
        "admin",
        {"group_by": "top\u200bic"},
        "group_by",
    ),
    QueryCase(
        "journeys: a time zone with a NUL, as CSV",
        "/api/v1/analytics/journeys",
        "supervisor",
        {"timezone": "UTC\x00", "format": "csv"},
        "timezone",
    ),
]

"""The card corpus: card numbers, the ways people and systems write them, every way a value reaches the hub.

`STORED` entry points carry values the hub keeps (card numbers masked to their last four digits); `REFUSED`
ones carry keys (event ids, sources, identifiers), where a card number is refused and nothing is written;
`ECHOED` ones answer with what they were sent (a 404's path), which must come back masked; `NAMED` are the
names operators give in commands (usernames, token names, skills, connection names), refused like keys;
`sign_in` is the desk's form.
tests/interactions/test_card_corpus.py posts every number in every format through each REST entry point,
tests/channels_app/test_card_corpus.py through each websocket frame (`WEBSOCKET`), and both then grep every
table of the database, the log records and the Celery messages for each number in any format.

A new entry point (a provider's webhook, a new command or frame) adds itself here; a new way of writing a
number adds itself to FORMATS.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import re
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from interactions.access.models import ApiToken
from interactions.access.tokens import token_create
from interactions.agents import services as presence
from interactions.callbacks import dispatch
from interactions.callbacks import services as callbacks
from interactions.followups.models import Followup
from tests.interactions.helpers import user_change_form

# Luhn-valid primary account numbers of every length from 13 to 19 digits: the schemes' published test
# numbers (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro) and a few more lengths.
CARDS = (
    "4111111111111111",
    "4012888888881881",
    "4444333322221111",
    "4222222222222",  # 13 digits
    "4917610000000000",
    "4000056655665556",
    "4111111111111111110",  # 19 digits
    "5555555555554444",
    "5105105105105100",
    "2223003122003222",
    "5200828282828210",
    "378282246310005",  # 15 digits, written 4-6-5
    "371449635398431",
    "378734493671000",
    "6011111111111117",
    "6011000990139424",
    "30569309025904",  # 14 digits, written 4-6-4
    "38520000023237",
    "36227206271667",
    "3530111333300000",
    "3566002020360505",
    "35661111111111119",  # 17 digits
    "6200000000000005",
    "6205500000000000004",  # 19 digits
    "621234567890000002",  # 18 digits
    "6759649826438453",
    "6799990100000000019",
    "501812345678901236",
)

# Values of one format are posted together in one text, separated by this (not a separator of digits).
JOIN = " ; "


def _groups(number: str) -> list[str]:
    """The groups a card is printed in: 4-6-5 (15 digits), 4-6-4 (14), else fours."""
    sizes = {15: (4, 6, 5), 14: (4, 6, 4)}.get(len(number))
    if sizes is None:
        return [number[i : i + 4] for i in range(0, len(number), 4)]
    out, at = [], 0
    for size in sizes:
        out.append(number[at : at + size])
        at += size
    return out


def _grouped(separator: str) -> Callable[[str], str]:
    return lambda number: separator.join(_groups(number))


def _digits_as(zero: int) -> Callable[[str], str]:
    table = {ord("0") + i: zero + i for i in range(10)}
    return lambda number: " ".join(_groups(number)).translate(table)


def _mixed(number: str) -> str:
    separators = [" ", "-", ".", "\u00a0", " - "]
    groups = _groups(number)
    return groups[0] + "".join(separators[i % len(separators)] + g for i, g in enumerate(groups[1:]))


# Every way of writing a number that a person, a form, a transcript or a system might produce.
FORMATS: dict[str, Callable[[str], str]] = {
    "digits": lambda n: n,
    "spaces": _grouped(" "),
    "two spaces": _grouped("  "),
    "dashes": _grouped("-"),
    "spaced dashes": _grouped(" - "),
    "dots": _grouped("."),
    "no-break spaces": _grouped("\u00a0"),
    "narrow no-break spaces": _grouped("\u202f"),
    "thin spaces": _grouped("\u2009"),
    "figure spaces": _grouped("\u2007"),
    "ideographic spaces": _grouped("\u3000"),
    "zero-width spaces": _grouped("\u200b"),
    # Invisible: the number looks whole on screen.
    "left-to-right marks": _grouped("\u200e"),
    "right-to-left marks": _grouped("\u200f"),
    "bidi overrides": _grouped("\u202e"),
    "bidi isolates": _grouped("\u2066"),
    "invisible times": _grouped("\u2062"),
    "emoji keycaps": lambda n: "".join(digit + "\ufe0f\u20e3" for digit in n),
    "soft hyphens": _grouped("\u00ad"),
    "tabs": _grouped("\t"),
    "newlines": _grouped("\n"),
    "CRLF": _grouped("\r\n"),
    "en dashes": _grouped("\u2013"),
    "minus signs": _grouped("\u2212"),
    "slashes": _grouped("/"),
    "underscores": _grouped("_"),
    "commas": _grouped(","),
    "pipes": _grouped("|"),
    "apostrophes (Swiss grouping)": _grouped("'"),
    "right single quotes": _grouped("\u2019"),
    "asterisks": _grouped("*"),
    "hashes": _grouped("#"),
    # Found unmasked by a review: every dash and invisible formatting character Unicode has, variation
    # selectors, and full-width forms of the ASCII separators.
    "Arabic letter marks": _grouped("\u061c"),
    "Armenian hyphens": _grouped("\u058a"),
    "Hebrew maqafs": _grouped("\u05be"),
    "two-em dashes": _grouped("\u2e3a"),
    "wave dashes": _grouped("\u301c"),
    "vertical em dashes": _grouped("\ufe31"),
    "inhibit symmetric swapping": _grouped("\u206a"),
    "tag spaces": _grouped("\U000e0020"),
    "variation selectors": _grouped("\ufe00"),
    "full-width slashes": _grouped("\uff0f"),
    "full-width low lines": _grouped("\uff3f"),
    "full-width asterisks": _grouped("\uff0a"),
    "full-width number signs": _grouped("\uff03"),
    "full-width apostrophes": _grouped("\uff07"),
    "mixed separators": _mixed,
    "one digit at a time": " ".join,  # a voice transcript
    "pairs": lambda n: " ".join(n[i : i + 2] for i in range(0, len(n), 2)),
    "full-width digits": _digits_as(0xFF10),
    "Arabic-Indic digits": _digits_as(0x0660),
    "between words": lambda n: f"pan={n}&exp=1227",
    "magnetic stripe": lambda n: f"%B{n}^DOE/JANE^2712101?",
}


# One number of each length (see one_of_each_length and in_turn).
_ONE_OF_EACH_LENGTH = sorted({len(n): i for i, n in reversed(list(enumerate(CARDS)))}.values())
_FORMAT_INDEX = {name: index for index, name in enumerate(FORMATS)}


def one_of_each_length(values: list[str]) -> list[str]:
    """Of the corpus numbers written in one format, one of each length (13 to 19 digits)."""
    return [values[i] for i in _ONE_OF_EACH_LENGTH]


def formatted() -> Iterator[tuple[str, list[str]]]:
    """(format name, every card number written that way)."""
    for name, write in FORMATS.items():
        yield name, [write(number) for number in CARDS]


def packed(limit: int = 2000) -> Iterator[tuple[str, list[str]]]:
    """formatted()'s numbers, as many formats' together as fit in a field of `limit` characters joined with
    JOIN: (their names joined with "+", their numbers). For entries each call of which runs a whole callback
    or follow-up flow to put the numbers it is given in one note or reason (FLOWS): three formats a call
    instead of one. A pack a field refused would fail the entry (each asserts its answers)."""
    names: list[str] = []
    numbers: list[str] = []
    for name, values in formatted():
        if numbers and len(JOIN.join([*numbers, *values])) > limit:
            yield "+".join(names), numbers
            names, numbers = [], []
        names.append(name)
        numbers.extend(values)
    if numbers:
        yield "+".join(names), numbers


def rounds(entry: str) -> Iterator[tuple[str, list[str]]]:
    """What an entry of STORED or WEBSOCKET is called with, call by call: packed() for FLOWS, else
    formatted()."""
    return packed() if entry in FLOWS else formatted()


def in_turn() -> Iterator[tuple[str, str]]:
    """(format name, one number written that way): every format once, the lengths 13 to 19 in turn.

    For entry points that render a page or run a command for each value: whether a value is a card number
    is the same question whatever the entry point, answered for every number in every format by the
    redaction tests; what an entry point's test asks is whether that question is put to each of its
    fields before anything is stored, logged or shown, and every format still reaches each field.
    """
    for name, values in formatted():
        yield name, one_in_turn(name, values)


def one_in_turn(fmt: str, values: list[str]) -> str:
    """Of the corpus numbers written in format `fmt`, the one in_turn takes: formats in order take the
    lengths 13 to 19 in turn."""
    return one_of_each_length(values)[_FORMAT_INDEX[fmt] % len(_ONE_OF_EACH_LENGTH)]


# --- Finding a number in what the hub stored, logged or enqueued --------------------------------------------


def _fold_digits(text: str) -> str:
    """Unicode decimal digits (full-width, Arabic-Indic, ...) as ASCII digits."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


# A number is found when its digits appear in order with at most four characters between each two that are
# neither letters nor digits: any separator, known or not, the mask's asterisk too (a masked number keeps
# four digits, so all of them in order is a leak whatever stands between).
_FOUND = {number: re.compile("[^0-9A-Za-z]{0,4}".join(number)) for number in CARDS}


def _strings(value: Any) -> Iterator[str]:
    """Every string, key and number in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield repr(value)
        if isinstance(value, float) and value.is_integer():
            yield str(int(value))


_REPR_ESCAPE = re.compile(r"\\(?:[tnrfvab]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def numbers_in(text: str) -> set[str]:
    """The corpus numbers found in `text`, written in any format, also inside JSON (escapes decoded)."""
    texts = [text]
    if text[:1] in '{["':
        with contextlib.suppress(ValueError):
            texts += list(_strings(json.loads(text)))
    # As repr() writes what it cannot print (`\\t`, `\\xa0`, `\\u200b`): a message quoting a value with it
    # shows the number as whole as a reader needs.
    texts += [_REPR_ESCAPE.sub(" ", t) for t in texts if "\\" in t]
    found: set[str] = set()
    for candidate in texts:
        folded = _fold_digits(candidate)
        found |= {number for number, pattern in _FOUND.items() if pattern.search(folded)}
    return found


def _tables(cursor) -> list[tuple[str, list[str]]]:
    """Every table and its columns, from the database's own catalogue."""
    if connection.vendor == "sqlite":
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        names = [row[0] for row in cursor.fetchall()]
        tables = []
        for name in names:
            cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(name)})")
            tables.append((name, [row[1] for row in cursor.fetchall()]))
        return tables
    cursor.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY table_schema, table_name, ordinal_position"
    )
    columns: dict[str, list[str]] = {}
    for schema, table, column in cursor.fetchall():
        qualified = f"{connection.ops.quote_name(schema)}.{connection.ops.quote_name(table)}"
        columns.setdefault(qualified, []).append(column)
    return list(columns.items())


def stored_cells() -> Iterator[tuple[str, str, str]]:
    """(table, column, value as text) of every non-null cell of every table in the database."""
    quote_name = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, columns in _tables(cursor):
            name = table if "." in table else quote_name(table)
            select = ", ".join(f"CAST({quote_name(c)} AS TEXT)" for c in columns)
            cursor.execute(f"SELECT {select} FROM {name}")  # names from the catalogue
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        yield table, column, value


def database_leaks() -> list[tuple[str, str, str]]:
    """(table, column, number) for every corpus number stored anywhere, in any format."""
    return sorted(
        {(table, column, number) for table, column, text in stored_cells() for number in numbers_in(text)}
    )


def masked_numbers() -> set[str]:
    """The corpus numbers whose last four digits are stored right after masked ones (`**** 1111`)."""
    text = "\n".join(_fold_digits(value) for _, _, value in stored_cells())
    return {
        number
        for number in CARDS
        if re.search(r"\*[^0-9A-Za-z*]{0,4}" + "[^0-9A-Za-z*]{0,4}".join(number[-4:]), text)
    }


def log_leaks(records: Iterable[Any]) -> list[tuple[str, str]]:
    """(logger, number) for every corpus number in a log record's message or traceback."""
    import logging

    formatter = logging.Formatter()
    leaks = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + formatter.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        leaks += [(record.name, number) for number in numbers_in(text)]
    return leaks


# --- Entry points -------------------------------------------------------------------------------------------

EVENTS = "/api/v1/events"
CALLBACKS = "/api/v1/callbacks"
SUBJECT = "tel:+15551234567"
_ids = iter(range(10**9))


@dataclass
class Hub:
    """The clients an entry point posts with."""

    integration: APIClient  # an integration token for sources under /sms-gateway/
    agent: APIClient
    agent_token: ApiToken
    supervisor: APIClient | None = None  # for the measures, which only supervisors and admins read


def event(**overrides: Any) -> dict[str, Any]:
    """A valid message.received event, happening now (callbacks follow the thread rules at the present)."""
    return {
        "specversion": "1.0",
        "id": f"card-corpus-{next(_ids)}",
        "source": "/sms-gateway/corpus",
        "type": "message.received",
        "subject": SUBJECT,
        "time": timezone.now().isoformat(),
        "data": {"channel": "sms", "text": "about my card"},
        **overrides,
    }


def _created(response: HttpResponse) -> HttpResponse:
    assert response.status_code in (200, 201), response.content
    return response


def structured(hub: Hub, body: dict[str, Any] | str) -> HttpResponse:
    text = body if isinstance(body, str) else json.dumps(body)
    return hub.integration.generic("POST", EVENTS, text, content_type="application/cloudevents+json")


def batch(hub: Hub, events: list[dict[str, Any]]) -> HttpResponse:
    return hub.integration.generic(
        "POST", EVENTS, json.dumps(events), content_type="application/cloudevents-batch+json"
    )


def binary(hub: Hub, data: dict[str, Any], **attributes: str) -> HttpResponse:
    """A binary-mode request: every attribute a percent-encoded ce- header, as the HTTP binding says."""
    headers = {
        "specversion": "1.0",
        "id": f"card-corpus-{next(_ids)}",
        "source": "/sms-gateway/corpus",
        "type": "message.received",
        "subject": SUBJECT,
        **attributes,
    }
    return hub.integration.generic(
        "POST",
        EVENTS,
        json.dumps(data),
        content_type="application/json",
        **{f"HTTP_CE_{name.upper()}": quote(value, safe="") for name, value in headers.items()},
    )


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _float_literals(values: list[str]) -> list[str]:
    """The numbers a JSON float holds exactly (below 2**53), written as floats two ways."""
    exact = [v for v in values if int(v) < 2**53]
    return [f"{v}.0" for v in exact] + [f"{v[0]}.{v[1:]}e{len(v) - 1}" for v in exact]


def post_text(hub: Hub, fmt: str, values: list[str]) -> None:
    _created(structured(hub, event(data={"channel": "sms", "text": JOIN.join(values)})))


def post_nested_values(hub: Hub, fmt: str, values: list[str]) -> None:
    data = {
        "channel": "chat",
        "text": "payment details attached",
        "payment": {"cards": [{"pan": v, "holder": "Jane"} for v in values], "memo": JOIN.join(values)},
        "attachments": [{"name": f"receipt {v}.pdf"} for v in values[:50]],
    }
    _created(structured(hub, event(data=data)))


def post_identifier_fields(hub: Hub, fmt: str, values: list[str]) -> None:
    """An integration's own field named `identifier` (only the hub's customer.identified has one that is an
    identifier): it went unmasked, as a text and as an object holding a number."""
    events = [
        event(data={"channel": "sms", "text": "hi", "identifier": JOIN.join(values)}),
        event(type="customer.profile_updated", data={"name": "Jane", "identifier": {"pans": values}}),
    ]
    _created(batch(hub, events))


def post_data_keys(hub: Hub, fmt: str, values: list[str]) -> None:
    """One event per number (two numbers with the same last four digits would mask to one key)."""
    events = [event(data={"channel": "sms", "text": "seen", "cards": {v: {v: True}}}) for v in values]
    _created(batch(hub, events))


def post_batch_text(hub: Hub, fmt: str, values: list[str]) -> None:
    _created(batch(hub, [event(data={"channel": "sms", "text": v}) for v in values]))


def _in_uri(value: str) -> str:
    """A number as it can stand in a URI (no white space: a dataschema with any is refused with 422)."""
    return "".join("-" if c.isspace() else c for c in value)


def post_binary(hub: Hub, fmt: str, values: list[str]) -> None:
    """The body's data, an extension header per number and the dataschema header."""
    for chunk in _chunks(values, 7):
        extensions = {f"card{i}": v for i, v in enumerate(chunk)}
        schema = "https://schemas.example.com/" + _in_uri("/".join(chunk))
        data = {"channel": "sms", "text": JOIN.join(chunk)}
        _created(binary(hub, data, dataschema=schema, **extensions))


def post_extensions(hub: Hub, fmt: str, values: list[str]) -> None:
    extensions = {f"card{i}": v for i, v in enumerate(values)}
    _created(structured(hub, event(**extensions)))


def post_correlation_and_schema(hub: Hub, fmt: str, values: list[str]) -> None:
    events = [
        event(correlationid=v, causationid=v, dataschema="https://schemas.example.com/" + _in_uri(v))
        for v in values
    ]
    _created(batch(hub, events))


def post_json_numbers(hub: Hub, fmt: str, values: list[str]) -> None:
    """Numbers as JSON integers and floats, in data (values and lists) and in extension attributes (which
    CloudEvents limits to 32-bit integers: a card number there is refused whole, and so never stored)."""
    if fmt != "digits":
        return
    extensions = {f"card{i}": int(v) for i, v in enumerate(values)}
    _created(structured(hub, event(data={"channel": "sms", "text": "ref", "refs": [int(v) for v in values]})))
    refused = structured(hub, event(**extensions))
    assert refused.status_code == 422, refused.content
    assert {e["field"] for e in refused.json()["errors"]} == set(extensions)
    floats = ", ".join(_float_literals(values))
    body = json.dumps(event(data={"channel": "sms", "text": "ref", "refs": "FLOATS"}))
    _created(structured(hub, body.replace('"FLOATS"', f"[{floats}]")))


def post_profile(hub: Hub, fmt: str, values: list[str]) -> None:
    events = [
        event(
            type="customer.profile_updated",
            data={"name": v, "segment": v[:64], "preferences": {"card": v, v: "on file"}},
        )
        for v in values
    ]
    _created(batch(hub, events))


def post_call_transcript(hub: Hub, fmt: str, values: list[str]) -> None:
    data = {"direction": "inbound", "duration_seconds": 60, "text": JOIN.join(values), "disposition": "paid"}
    _created(structured(hub, event(type="call.ended", data=data)))


def post_conversation_refs(hub: Hub, fmt: str, values: list[str]) -> None:
    """Values placement reads (conversation refs, topics) are masked too: masking the same value twice
    gives the same result, so a reply still finds its conversation."""
    events = [
        event(
            data={
                "channel": "email",
                "text": "re: payment",
                "conversation_ref": f"<{v}@mail.example.com>",
                "in_reply_to": f"<{v}@mail.example.com>",
                "references": [f"<{v}@mail.example.com>"],
                "subject_line": f"Payment {v}",
                "topic": f"card {v}"[:120],
            }
        )
        for v in values
    ]
    _created(batch(hub, events))


def _thread(hub: Hub) -> str:
    return _created(structured(hub, event())).json()["thread_id"]


def post_thread_reasons(hub: Hub, fmt: str, values: list[str]) -> None:
    thread_id = _thread(hub)
    reason = JOIN.join(values)
    _created(hub.agent.post(f"/api/v1/threads/{thread_id}/resolve", {"reason": reason}, format="json"))
    _created(hub.agent.post(f"/api/v1/threads/{thread_id}/reopen", {"reason": reason}, format="json"))


def post_thread_note(hub: Hub, fmt: str, values: list[str]) -> None:
    thread_id = _thread(hub)
    _created(hub.agent.post(f"/api/v1/threads/{thread_id}/notes", {"text": JOIN.join(values)}, format="json"))


def post_nba_reasons(hub: Hub, fmt: str, values: list[str]) -> None:
    answer = _created(structured(hub, event())).json()
    base = f"/api/v1/customers/{answer['customer_id']}/next-best-actions/apologise-for-bad-rating"
    body = {"thread_id": answer["thread_id"], "reason": JOIN.join(values)}
    _created(hub.agent.post(f"{base}/taken", body, format="json"))
    _created(hub.agent.post(f"{base}/dismissed", body, format="json"))


def _request_callback(hub: Hub, reason: str = "") -> str:
    body = {"identifier": SUBJECT, "phone": "+15551234567", "reason": reason}
    return _created(hub.integration.post(CALLBACKS, body, format="json")).json()["id"]


def _online(agent: ApiToken) -> None:
    presence.agent_socket_open(agent=agent)
    presence.agent_status_set(agent=agent, status="available")


def post_callback_request_and_cancel(hub: Hub, fmt: str, values: list[str]) -> None:
    callback_id = _request_callback(hub, reason=JOIN.join(values))
    cancel = {"reason": JOIN.join(values)}
    _created(hub.integration.post(f"{CALLBACKS}/{callback_id}/cancel", cancel, format="json"))


def post_callback_decline(hub: Hub, fmt: str, values: list[str]) -> None:
    _online(hub.agent_token)
    callback_id = _request_callback(hub)
    assert dispatch.callbacks_dispatch() == 1
    _created(
        hub.agent.post(f"{CALLBACKS}/{callback_id}/decline", {"reason": JOIN.join(values)}, format="json")
    )
    _created(hub.integration.post(f"{CALLBACKS}/{callback_id}/cancel", format="json"))


def post_callback_outcomes(hub: Hub, fmt: str, values: list[str]) -> None:
    """An outcome note is copied into the context of the next attempt's offer."""
    _online(hub.agent_token)
    callback_id = _request_callback(hub)
    note = JOIN.join(values)
    assert dispatch.callbacks_dispatch() == 1
    _created(hub.agent.post(f"{CALLBACKS}/{callback_id}/accept"))
    outcome = {"outcome": "busy", "note": note}
    _created(hub.agent.post(f"{CALLBACKS}/{callback_id}/outcome", outcome, format="json"))
    assert dispatch.callbacks_dispatch(now=timezone.now() + timedelta(minutes=6)) == 1  # the retry's offer
    _created(hub.agent.post(f"{CALLBACKS}/{callback_id}/accept"))
    outcome = {"outcome": "completed", "note": note}
    _created(hub.agent.post(f"{CALLBACKS}/{callback_id}/outcome", outcome, format="json"))


def _followup(hub: Hub, comment: str = "") -> str:
    """A bottom-box survey answer (its comment as given): the follow-up it opens."""
    data = {"channel": "sms", "metric": "csat", "score": 1, "comment": comment}
    _created(structured(hub, event(type="survey.answered", data=data)))
    return str(Followup.objects.order_by("-opened_at").values_list("pk", flat=True)[0])


def post_followup_comment_and_close_note(hub: Hub, fmt: str, values: list[str]) -> None:
    """A survey's comment is copied into the follow-up it opens; a close's note is the agent's."""
    followup_id = _followup(hub, comment=JOIN.join(values))
    body = {"action": "called_back", "note": JOIN.join(values)}
    _created(hub.agent.post(f"/api/v1/followups/{followup_id}/close", body, format="json"))


def post_followup_callback_reason(hub: Hub, fmt: str, values: list[str]) -> None:
    followup_id = _followup(hub)
    body = {"reason": JOIN.join(values)}
    _created(hub.agent.post(f"/api/v1/followups/{followup_id}/callback", body, format="json"))


def _twilio_post(hub: Hub, purpose: str, params: dict[str, str]) -> HttpResponse:
    """A form posted to the corpus's Twilio connection, signed with Twilio's own validator."""
    from interactions.connections.models import Connection
    from interactions.connections.services import connection_create
    from tests.interactions.adapters import twilio_payloads as tw

    if not Connection.objects.filter(name="corpus").exists():
        connection_create(provider="twilio", name="corpus", secrets={"auth_token": tw.AUTH_TOKEN})
    return tw.signed_post(hub.integration, f"/hooks/twilio/corpus/{purpose}", params)


def post_twilio_message(hub: Hub, fmt: str, values: list[str]) -> None:
    """An SMS and a WhatsApp message through Twilio's hook: Body and ProfileName (a WhatsApp name)."""
    from tests.interactions.adapters import twilio_payloads as tw

    _created(_twilio_post(hub, "messaging", tw.inbound_sms(Body=JOIN.join(values))))
    # A name per message (the Body above carries every number): one per format, the lengths in turn.
    value = one_in_turn(fmt, values)
    _created(_twilio_post(hub, "messaging", tw.inbound_whatsapp(Body=f"card {value}", ProfileName=value)))


def post_twilio_transcript(hub: Hub, fmt: str, values: list[str]) -> None:
    """A call's transcription through Twilio's hook (its status callback first)."""
    from tests.interactions.adapters import twilio_payloads as tw

    call, recording = tw.sid("CA"), tw.sid("RE")
    _created(_twilio_post(hub, "voice", tw.call_status(call, "completed")))
    _created(_twilio_post(hub, "transcription", tw.transcription(call, recording, JOIN.join(values))))


# --- The adapters' hooks: a provider's delivery, authenticated as the provider would ---------------------

HOOK_MAIL_SECRET = "card-corpus-mail-secret-0123456789"
HOOK_APP_SECRET = "card-corpus-app-secret"


def _hook_connection(provider: str, name: str, **secrets: str) -> None:
    from interactions.connections.models import Connection
    from interactions.connections.services import connection_create

    if not Connection.objects.filter(name=name).exists():
        connection_create(provider=provider, name=name, secrets=secrets)


def post_email(hub: Hub, fmt: str, values: list[str]) -> None:
    """An inbound e-mail with the numbers in its body, its subject and its attachments' names."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    _hook_connection("email", "card-corpus-mail", secret=HOOK_MAIL_SECRET)
    message = EmailMessage()
    message["From"] = "Jane <jane@example.com>"
    message["To"] = "support@shop.example"
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    # A header holds no line break: a number written across lines goes in on one line.
    message["Subject"] = " ".join(JOIN.join(values[:8]).splitlines())
    message.set_content("My card: " + JOIN.join(values) + "\n")
    for value in values[:50]:
        name = " ".join(f"card {value}.pdf".splitlines())
        message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=name)
    response = Client().generic(
        "POST",
        "/hooks/email/card-corpus-mail/inbound",
        message.as_bytes(),
        content_type="message/rfc822",
        HTTP_AUTHORIZATION=f"Bearer {HOOK_MAIL_SECRET}",
    )
    _created(response)


def post_whatsapp(hub: Hub, fmt: str, values: list[str]) -> None:
    """A Meta delivery of WhatsApp messages, each holding a number in its text or a media caption."""
    _hook_connection("meta", "card-corpus-meta", app_secret=HOOK_APP_SECRET, verify_token="v")
    messages = []
    for value in values:
        base = {"from": "15551234567", "id": f"wamid.card-{next(_ids)}", "timestamp": "1795428000"}
        messages.append({**base, "type": "text", "text": {"body": f"my card is {value}"}})
        media = {"id": "1479537139650973", "mime_type": "image/jpeg", "caption": f"card {value}"}
        messages.append({**base, "id": f"wamid.card-{next(_ids)}", "type": "image", "image": media})
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": messages}}]}],
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(HOOK_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = Client().generic(
        "POST",
        "/hooks/meta/card-corpus-meta/webhook",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    _created(response)


def post_outcomes(hub: Hub, fmt: str, values: list[str]) -> None:
    """Outcomes whose reference, topic and agent hold a number: kept in the log and the analytics rows."""
    outcome = {"kind": "sale", "value": "19.99", "currency": "EUR", "channel": "voice"}
    events = [
        event(
            type="outcome.recorded",
            data={**outcome, "reference": f"order {v}", "topic": v[:120], "agent_id": v[:128]},
        )
        for v in values
    ]
    _created(batch(hub, events))


# Entry points whose values the hub stores: name -> post(hub, format name, the numbers in that format).
STORED: dict[str, Callable[[Hub, str, list[str]], None]] = {
    "structured data.text": post_text,
    "structured nested data values": post_nested_values,
    "batch data keys": post_data_keys,
    "an integration's data.identifier field": post_identifier_fields,
    "batch data.text": post_batch_text,
    "binary data, extension headers and dataschema": post_binary,
    "structured extension attributes": post_extensions,
    "batch correlationid, causationid and dataschema": post_correlation_and_schema,
    "JSON numbers and floats": post_json_numbers,
    "batch customer.profile_updated": post_profile,
    "structured call transcript": post_call_transcript,
    "batch conversation refs, subject line and topic": post_conversation_refs,
    "thread resolve and reopen reasons": post_thread_reasons,
    "thread note": post_thread_note,
    "next best action taken and dismissed reasons": post_nba_reasons,
    "callback request and cancel reasons": post_callback_request_and_cancel,
    "callback decline reason": post_callback_decline,
    "callback outcome notes and the next offer's context": post_callback_outcomes,
    "follow-up survey comment and close note": post_followup_comment_and_close_note,
    "follow-up callback reason": post_followup_callback_reason,
    "outcome reference, topic and agent": post_outcomes,
    "Twilio message Body and WhatsApp ProfileName": post_twilio_message,
    "Twilio call transcript": post_twilio_transcript,
    "inbound e-mail body, subject and attachment names": post_email,
    "Meta WhatsApp texts and captions": post_whatsapp,
}


# --- Keys: refused ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    response: HttpResponse
    field: str
    status: int = 422
    indexes: int = 1  # how many events of the request must be named


def _batch_refusals(hub: Hub, values: list[str], field: str, build: Callable[[str], dict]) -> list[Refusal]:
    return [Refusal(batch(hub, [build(v) for v in values]), field, indexes=len(values))]


def refuse_ids(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    one = [Refusal(structured(hub, event(id=f"pay-{v}")), "id") for v in one_of_each_length(values)]
    return one + _batch_refusals(hub, values, "id", lambda v: event(id=v))


def refuse_sources(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    return _batch_refusals(hub, values, "source", lambda v: event(source=f"/sms-gateway/{v}"))


def _refuse_subjects(template: str) -> Callable[[Hub, str, list[str]], list[Refusal]]:
    def refuse(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
        return _batch_refusals(hub, values, "subject", lambda v: event(subject=template.format(v)))

    return refuse


def refuse_data_identifiers(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    def build(v: str) -> dict:
        identifiers = [f"mailto:{v}@example.com", f"account:{v}", f"chat:{v}"]
        return event(data={"channel": "sms", "text": "hi", "identifiers": identifiers})

    return _batch_refusals(hub, values, "data.identifiers", build)


def refuse_phone_extensions(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    """A valid number with a card where the number leaves text out (the extension, RFC 3966 parameters): it
    was stored as sent in data.identifiers."""

    def build(v: str) -> dict:
        identifiers = [f"tel:+442079460958;ext={_in_uri(v)}", f"tel:+16502530000;isub={_in_uri(v)}"]
        return event(data={"channel": "sms", "text": "hi", "identifiers": identifiers})

    refusals = _batch_refusals(hub, values, "data.identifiers", build)
    return refusals + _batch_refusals(
        hub, values, "subject", lambda v: event(subject=f"tel:+16502530000 ext. {v}")
    )


def refuse_binary_headers(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    data = {"channel": "sms", "text": "hi"}
    values = one_of_each_length(values)
    return [Refusal(binary(hub, data, id=f"pay-{v}"), "id") for v in values] + [
        Refusal(binary(hub, data, subject=f"account:{v}"), "subject") for v in values
    ]


def refuse_callback_keys(hub: Hub, fmt: str, values: list[str]) -> list[Refusal]:
    def request(**body: str) -> HttpResponse:
        body = {"identifier": SUBJECT, "phone": "+15551234567", **body}
        return hub.integration.post(CALLBACKS, body, format="json")

    values = one_of_each_length(values)
    return [Refusal(request(identifier=f"account:{v}"), "identifier", 400) for v in values] + [
        Refusal(request(phone=v), "phone", 400) for v in values
    ]


# Entry points whose values are keys: name -> post(hub, format name, numbers) -> the refusals to check.
REFUSED: dict[str, Callable[[Hub, str, list[str]], list[Refusal]]] = {
    "event id (structured and batch)": refuse_ids,
    "event source": refuse_sources,
    "subject mailto:": _refuse_subjects("mailto:{}@example.com"),
    "subject account:": _refuse_subjects("account:{}"),
    "subject chat:": _refuse_subjects("chat:{}"),
    "subject social:": _refuse_subjects("social:twitter:{}"),
    "subject tel:": _refuse_subjects("tel:{}"),
    "data.identifiers": refuse_data_identifiers,
    "a phone number's extension and parameters": refuse_phone_extensions,
    "binary ce-id and ce-subject headers": refuse_binary_headers,
    "callback identifier and phone": refuse_callback_keys,
}


# --- Answers that could repeat what was sent ----------------------------------------------------------------


def _path_part(value: str) -> str:
    return quote(value, safe="")


def echo_nba_rule(hub: Hub, value: str) -> HttpResponse:
    """An unknown next best action rule: its 404 names the rule id (or the path) it was given."""
    customer = _created(structured(hub, event()))
    path = f"/api/v1/customers/{customer.json()['customer_id']}/next-best-actions/{_path_part(value)}/taken"
    return hub.agent.post(path, {}, format="json")


def echo_hook_name(hub: Hub, value: str) -> HttpResponse:
    """A hook URL naming no connection: its 404 names the connection (or the path)."""
    return Client().post(f"/hooks/email/{_path_part(value)}/inbound", b"x", content_type="message/rfc822")


def echo_unknown_path(hub: Hub, value: str) -> HttpResponse:
    return hub.agent.get(f"/api/v1/{_path_part(value)}")


def echo_thread_filter(hub: Hub, value: str) -> HttpResponse:
    return hub.agent.get("/api/v1/threads", {"agent": value})


def echo_context_identifier(hub: Hub, value: str) -> HttpResponse:
    return hub.agent.get("/api/v1/context", {"identifier": f"account:{value}"})


def echo_specversion(hub: Hub, value: str) -> HttpResponse:
    """A refusal quoting the value with repr(), which writes a tab or a no-break space as an escape."""
    return structured(hub, event(specversion=value))


def echo_event_type(hub: Hub, value: str) -> HttpResponse:
    return structured(hub, event(type=value))


def echo_profile_timezone(hub: Hub, value: str) -> HttpResponse:
    return structured(hub, event(type="customer.profile_updated", data={"timezone": value}))


def echo_callback_timezone(hub: Hub, value: str) -> HttpResponse:
    return hub.integration.post(
        CALLBACKS, {"identifier": SUBJECT, "phone": "+15551234567", "timezone": value}, format="json"
    )


def _measure_query(route: str, parameter: str) -> Callable[[Hub, str], HttpResponse]:
    """A measure read (supervisors') with one query parameter holding the number: its 400 names the field."""

    def send(hub: Hub, value: str) -> HttpResponse:
        assert hub.supervisor is not None, "the corpus' hub has no supervisor client"
        response = hub.supervisor.get(f"/api/v1/analytics/{route}", {parameter: value})
        assert response.status_code == 400, response.content  # read and refused, not turned away unread
        return response

    return send


def echo_measure_as_csv(hub: Hub, value: str) -> HttpResponse:
    """A refusal asked for as CSV is still problem+json: it must not quote the number either."""
    assert hub.supervisor is not None, "the corpus' hub has no supervisor client"
    response = hub.supervisor.get(
        "/api/v1/analytics/surveys", {"format": "csv", "timezone": value, "from": value}
    )
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json", response
    return response


MEASURE_ECHOES = {
    f"analytics/{route}?{parameter}=": _measure_query(route, parameter)
    for route in ("surveys", "handling", "effort", "journeys", "outcomes")
    for parameter in ("timezone", "from", "to", "group_by", "granularity", "min_position")
} | {
    "analytics/surveys?metric=": _measure_query("surveys", "metric"),
    "analytics as CSV": echo_measure_as_csv,
}


def echo_outcome_currency_filter(hub: Hub, value: str) -> HttpResponse:
    assert hub.supervisor is not None
    return hub.supervisor.get("/api/v1/analytics/outcomes", {"currency": value})


def echo_outcome_value_and_currency(hub: Hub, value: str) -> HttpResponse:
    data = {"kind": "sale", "value": value, "currency": value}
    return structured(hub, event(type="outcome.recorded", data=data))


# Entry points whose answer (a 404's path, a refusal's field) could repeat a number they were sent: name ->
# send(hub, one number in one format) -> the answer, which must not hold the number.
ECHOED: dict[str, Callable[[Hub, str], HttpResponse]] = {
    "next best action rule id (404)": echo_nba_rule,
    "hook connection name (404)": echo_hook_name,
    "unknown API path (404)": echo_unknown_path,
    "threads?agent=": echo_thread_filter,
    "context?identifier=account:": echo_context_identifier,
    "an event's specversion (422)": echo_specversion,
    "an event's type (422)": echo_event_type,
    "a profile's timezone (422)": echo_profile_timezone,
    "a callback's timezone (400)": echo_callback_timezone,
    **MEASURE_ECHOES,
    "analytics/outcomes?currency= (400)": echo_outcome_currency_filter,
    "an outcome's value and currency (422)": echo_outcome_value_and_currency,
}


# --- Idempotency keys: hashed into an id, never stored ------------------------------------------------


def _keyed_note(hub: Hub, key: str) -> list[HttpResponse]:
    path = f"/api/v1/threads/{_thread(hub)}/notes"
    return [
        hub.agent.post(path, {"text": "called back"}, format="json", HTTP_IDEMPOTENCY_KEY=key) for _ in "12"
    ]


def _keyed_nba_taken(hub: Hub, key: str) -> list[HttpResponse]:
    customer = _created(structured(hub, event())).json()["customer_id"]
    path = f"/api/v1/customers/{customer}/next-best-actions/apologise-for-bad-rating/taken"
    return [hub.agent.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY=key) for _ in "12"]


def _keyed_followup_close(hub: Hub, key: str) -> list[HttpResponse]:
    path = f"/api/v1/followups/{_followup(hub)}/close"
    body = {"action": "explained"}
    return [hub.agent.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key) for _ in "12"]


def _keyed_callback(hub: Hub, key: str) -> list[HttpResponse]:
    body = {"identifier": SUBJECT, "phone": "+15551234567"}
    return [hub.integration.post(CALLBACKS, body, format="json", HTTP_IDEMPOTENCY_KEY=key) for _ in "12"]


# Commands that take an `Idempotency-Key`, one of each way the key reaches storage (a note's event id, an
# answer's event id, a callback's id): name -> send(hub, one number in one format) -> the answers to a first
# request and its retry. A key that is visible ASCII is accepted and hashed; any other is a 400 naming the
# header. Neither answer, the database, a log line or a Celery message may hold the number.
KEYED: dict[str, Callable[[Hub, str], list[HttpResponse]]] = {
    "thread note": _keyed_note,
    "next best action taken": _keyed_nba_taken,
    "callback request": _keyed_callback,
    "follow-up close": _keyed_followup_close,
}


# --- Names an operator gives, and signing in ----------------------------------------------------------------

PASSWORD = "correct horse battery staple"
_names = iter(range(10**9))


def _command(*args: str) -> str | None:
    """Run a management command: the sentence of its CommandError, or None when it succeeded."""
    try:
        call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Named:
    """A command argument an operator types: `run(value)` gives the CommandError's sentence or None."""

    run: Callable[[str], str | None]
    # A list the command splits at commas: a part that holds no number is kept ("4111,1111,1111,1111" is
    # four skills, none of them a card number).
    comma_list: bool = False


def _unique() -> str:
    return f"corpus-{next(_names)}"


def _user(name: str, *more: str) -> str | None:
    return _command("create_user", name, "--role", "agent", "--password", PASSWORD, *more)


def _token(name: str, role: str, *more: str) -> str | None:
    return _command("create_token", name, "--role", role, *more)


NAMED: dict[str, Named] = {
    "create_user name": Named(lambda v: _user(v)),
    "create_user --skills": Named(lambda v: _user(_unique(), "--skills", v), comma_list=True),
    "create_token name": Named(lambda v: _token(v, "agent")),
    "create_token --source": Named(
        lambda v: _token(_unique(), "integration", "--source", f"/sms-gateway/{v}/")
    ),
    "create_token --skills": Named(lambda v: _token(_unique(), "agent", "--skills", v), comma_list=True),
    "add_connection name": Named(
        lambda v: _command("add_connection", "email", v, "--secret", "corpus-secret-0123456789abcdef")
    ),
    "createsuperuser --username": Named(
        lambda v: _command("createsuperuser", "--noinput", "--username", v, "--email", "corpus@example.com")
    ),
    "createsuperuser --email": Named(
        lambda v: _command("createsuperuser", "--noinput", "--username", _unique(), "--email", v)
    ),
}


# The admin's forms that keep what an admin types as a name (Django's users and groups, and the token form):
# each posts the number into one field; the form must come back refusing it, without showing it.


def _user_change(client: Client, field: str, value: str) -> HttpResponse:
    from django.contrib.auth.models import User

    user = User.objects.create_user(_unique())
    return client.post(f"/admin/auth/user/{user.pk}/change/", user_change_form(user, **{field: value}))


def _user_add(client: Client, value: str) -> HttpResponse:
    form = {"username": value, "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/admin/auth/user/add/", form)


def _token_change(client: Client, field: str, value: str) -> HttpResponse:
    token, _ = token_create(name=_unique(), role="agent")
    form = {"name": token.name, "role": token.role, "source_prefix": "", "skills": "[]", field: value}
    return client.post(f"/admin/interactions/apitoken/{token.pk}/change/", form)


# name -> (the field the number is typed into, post it)
ADMIN_FORMS: dict[str, tuple[str, Callable[[Client, str], HttpResponse]]] = {
    "user add: username": ("username", _user_add),
    **{
        f"user change: {f}": (f, lambda c, v, f=f: _user_change(c, f, v))
        for f in ("username", "first_name", "last_name", "email", "groups")
    },
    "group add: name": ("name", lambda c, v: c.post("/admin/auth/group/add/", {"name": v})),
    "group add: permissions": (
        "permissions",
        lambda c, v: c.post("/admin/auth/group/add/", {"name": _unique(), "permissions": v}),
    ),
    "token change: name": ("name", lambda c, v: _token_change(c, "name", v)),
    "token change: role": ("role", lambda c, v: _token_change(c, "role", v)),
    "token change: source_prefix": (
        "source_prefix",
        lambda c, v: _token_change(c, "source_prefix", f"/s/{v}/"),
    ),
    "token change: skills": ("skills", lambda c, v: _token_change(c, "skills", json.dumps(["billing", v]))),
}


def sign_in(value: str) -> HttpResponse:
    """The desk's sign-in form with the number as the username and as the password."""
    return Client().post("/accounts/login/", {"username": value, "password": value, "next": "/desk/"})


def problem_fields(response: HttpResponse) -> list[tuple[int | None, str]]:
    """(event index, field) of every error a problem names."""
    return [(e.get("index"), e["field"]) for e in response.json().get("errors", [])]


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# --- Websocket frames ---------------------------------------------------------------------------------------


@dataclass
class Socket:
    """An agent's open socket (a channels WebsocketCommunicator), subscribed to agent:me and available."""

    ws: Any
    agent: ApiToken
    integration: ApiToken


async def _next(socket: Socket, op: str) -> dict[str, Any]:
    """The next frame with this op (presence events and the like on agent:me may come first)."""
    while True:
        frame = await socket.ws.receive_json_from(timeout=10)
        if frame["op"] == "error":
            raise AssertionError(frame)
        if frame["op"] == op and (op != "event" or frame["event"]["type"] == "callback.offered"):
            return frame


@database_sync_to_async
def _offered_callback(integration: ApiToken) -> str:
    request = callbacks.RequestInput(identifier=SUBJECT, phone="+15551234567", reason="card")
    callback_id = str(callbacks.callback_request(actor=integration, request=request).pk)
    assert dispatch.callbacks_dispatch() == 1
    return callback_id


@database_sync_to_async
def _cancel(integration: ApiToken, callback_id: str) -> None:
    callbacks.callback_cancel(callback_id=callback_id, actor=integration)


@database_sync_to_async
def _retry_offered() -> None:
    assert dispatch.callbacks_dispatch(now=timezone.now() + timedelta(minutes=6)) == 1


async def _answer(socket: Socket, **frame: Any) -> dict[str, Any]:
    await socket.ws.send_json_to(frame)
    return await _next(socket, "ack")


async def decline_over_socket(socket: Socket, fmt: str, values: list[str]) -> None:
    callback_id = await _offered_callback(socket.integration)
    await _next(socket, "event")
    await _answer(socket, op="decline", callback_id=callback_id, reason=JOIN.join(values))
    await _cancel(socket.integration, callback_id)


async def outcomes_over_socket(socket: Socket, fmt: str, values: list[str]) -> None:
    """An outcome note, then the next attempt's offer (which copies the timeline into its context)."""
    callback_id = await _offered_callback(socket.integration)
    await _next(socket, "event")
    await _answer(socket, op="accept", callback_id=callback_id)
    await _answer(socket, op="outcome", callback_id=callback_id, outcome="busy", note=JOIN.join(values))
    await _retry_offered()
    offer = await _next(socket, "event")
    assert numbers_in(json.dumps(offer)) == set()
    await _answer(socket, op="accept", callback_id=callback_id)
    await _answer(socket, op="outcome", callback_id=callback_id, outcome="completed", note=JOIN.join(values))


# Entries that run a callback or follow-up flow for each call and put all its numbers in one field of at most
# 2,000 characters (a reason, a note): rounds() packs several formats into each call.
FLOWS = frozenset(
    {
        "callback request and cancel reasons",
        "callback decline reason",
        "callback outcome notes and the next offer's context",
        "follow-up callback reason",
        "follow-up survey comment and close note",
        "decline reason",
        "outcome notes and the next offer's context",
    }
)

# Frames whose values the hub stores: name -> send(socket, format name, the numbers in that format).
WEBSOCKET: dict[str, Callable[[Socket, str, list[str]], Awaitable[None]]] = {
    "decline reason": decline_over_socket,
    "outcome notes and the next offer's context": outcomes_over_socket,
}

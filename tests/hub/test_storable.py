"""What the log may hold: the append refuses what a reader could not read back, and the largest keys and both
ends of the time range are stored and read back as they were, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub import log, storable, store
from hub.errors import UnstorableEvents
from hub.events import NewEvent
from tests.conftest import log_snapshot

pytestmark = pytest.mark.django_db

ASTRAL = "\U00020000"  # 4 bytes in UTF-8, 1 character (and 2 UTF-16 code units)
MINUS_14 = timezone(timedelta(hours=-14))
PLUS_14 = timezone(timedelta(hours=14))


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def new(**overrides) -> NewEvent:
    values = {"source": "/test", "id": "e-1", "type": "test.happened", "stream": "s-1", "data": {"n": 1}}
    return NewEvent(**{**values, **overrides})


UNSTORABLE = [
    ("source", {"source": "/" + ASTRAL * 256}),  # 1,025 bytes
    ("id", {"id": "x" + ASTRAL * 64}),  # 257 bytes
    ("id", {"id": "a\x00b"}),
    ("id", {"id": "\ud800"}),
    ("stream", {"stream": "s" * 257}),
    ("subject", {"subject": "tel:\x00"}),
    ("occurred_at", {"occurred_at": datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14)}),
    ("occurred_at", {"occurred_at": datetime(1, 1, 1, tzinfo=PLUS_14)}),
    ("occurred_at", {"occurred_at": datetime(2200, 1, 1, tzinfo=UTC)}),
    ("occurred_at", {"occurred_at": datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)}),
    ("occurred_at", {"occurred_at": datetime(2026, 1, 1)}),  # no offset
    ("schema_version", {"schema_version": True}),
    ("schema_version", {"schema_version": 40_000}),
    ("data.k\\u0000", {"data": {"k\x00": 1}}),
    ("data.list.1", {"data": {"list": ["ok", "lone \udc00"]}}),
    ("data.n", {"data": {"n": float("inf")}}),
    ("data.n", {"data": {"n": float("-inf")}}),
    ("data.n", {"data": {"n": float("nan")}}),
    ("data" + ".a" * 64, {"data": nested(65)}),  # 65 levels
    ("data.when", {"data": {"when": datetime(2026, 1, 1, tzinfo=UTC)}}),  # not a JSON value
    ("data", {"data": ["not", "an", "object"]}),
    ("metadata.extensions.x", {"metadata": {"extensions": {"x": "\x00"}}}),
]


@pytest.mark.parametrize(("field", "overrides"), UNSTORABLE, ids=[f[:24] for f, _ in UNSTORABLE])
def test_append_refuses_what_a_reader_could_not_read_back_naming_the_field_and_writes_nothing(
    field, overrides
):
    store.append([new(id="before")])
    before = log_snapshot()

    with pytest.raises(UnstorableEvents) as refused:
        store.append([new(id="good"), new(**{"id": "bad", **overrides})])

    assert [(e["index"], e["field"]) for e in refused.value.errors] == [(1, field)]
    assert log_snapshot() == before


def test_the_largest_keys_deepest_data_and_both_ends_of_the_time_range_are_stored_and_read_back():
    events = [
        new(
            source="/" + ASTRAL * 255 + "abc",  # 1,024 bytes
            id=ASTRAL * 64,  # 256 bytes
            stream="s" * 256,
            occurred_at=datetime(1970, 1, 1, 14, tzinfo=PLUS_14),  # 1970-01-01T00:00:00Z
            data={"deep": nested(63), "astral": ASTRAL * 5000, "float": -0.5, "n": -(2**63)},
        ),
        new(
            id="latest",
            # 2199-12-31T23:59:59.999999Z
            occurred_at=datetime(2199, 12, 31, 9, 59, 59, 999_999, tzinfo=MINUS_14),
            metadata={"extensions": {"e": "é" * 1024}},
        ),
    ]
    written = [r.event for r in store.append(events)]

    for read in (log.read_after(0), [*log.existing([(e.source, e.id) for e in events]).values()]):
        read = sorted(read, key=lambda e: e.position)
        assert read == written
    assert written[0].source == events[0].source and written[0].id == events[0].id
    assert written[0].occurred_at == storable.EARLIEST_TIME
    assert written[1].occurred_at == storable.LATEST_TIME
    assert written[0].data == events[0].data and written[1].metadata == events[1].metadata
    assert log.read_stream("s" * 256)[0].position == written[0].position


def test_json_nested_ten_thousand_deep_is_refused_with_the_path_to_where_the_limit_was_passed():
    text = '[{"data": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}]"
    with pytest.raises(storable.TooDeep) as refused:
        storable.loads(text)
    path = refused.value.path
    assert path[:3] == (0, "data", "x") and len(path) == storable.MAX_JSON_DEPTH
    # Nesting between the limit and the parser's own gets the same answer.
    with pytest.raises(storable.TooDeep) as refused:
        storable.loads('[{"data": {"x": ' + "[" * 100 + "]" * 100 + "}}]")
    assert refused.value.path == path
    assert storable.json_problem(json.loads('[{"data": {"x": ' + "[" * 100 + "]" * 100 + "}}]"))[0] == path
    # At the limit, it parses.
    assert storable.loads('[{"data": {"x": ' + "[" * 61 + "]" * 61 + "}}]")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"subject": "tel:+1", "subject": "tel:+2"}', ("subject",)),
        ('[{"id": 1}, {"id": 2, "data": {"t": 1, "u": [0, {"k": 1, "k": 1}]}}]', (1, "data", "u", 1, "k")),
        # Once decoded, as the parser compares keys: an escape names the same key.
        ('{"data": {"text": "a", "\\u0074ext": "b"}}', ("data", "text")),
        # Braces and quotes inside strings are text, not structure.
        ('{"a": "{\\"a\\": 1}", "b": {"a": "}", "a": 2}}', ("b", "a")),
        ('{"k\\u0000": 1, "k\\u0000": 2}', ("k\x00",)),
    ],
)
def test_a_key_named_twice_in_one_object_is_refused_with_the_path_to_it(text, path):
    with pytest.raises(storable.RepeatedKey) as refused:
        storable.loads(text)
    assert refused.value.path == path
    assert isinstance(refused.value, ValueError)  # every entry point's "not JSON it reads" answer still holds


def test_the_same_key_in_different_objects_is_not_a_repeat():
    assert storable.loads('[{"id": 1}, {"id": 2, "data": {"id": 3}}]') == [
        {"id": 1},
        {"id": 2, "data": {"id": 3}},
    ]
    assert storable.loads('{"a": 1, "A": 2, "a ": 3}') == {"a": 1, "A": 2, "a ": 3}


def test_a_path_to_a_bad_key_is_written_so_that_it_can_be_echoed():
    assert storable.field_name(("data", "k\x00", "\ud800x", 3)) == "data.k\\u0000.\\ud800x.3"


@pytest.mark.parametrize(
    ("text", "allowed", "unseen"),
    [
        ("Zoë Ångström", "", None),
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "", None),  # Persian needs the non-joiner
        ("👩\u200d💻", "", None),  # a joined emoji
        ("gw\u202egnp.exe", "", "\u202e"),  # a right-to-left override: reads as exe.png
        ("a\u200bb", "", "\u200b"),  # a zero-width space
        ("soft\u00adhyphen", "", "\u00ad"),
        ("two\nlines", "", "\n"),
        ("a\u2028b", "", "\u2028"),  # a line separator
        ("a\u2029b", "", "\u2029"),  # a paragraph separator
        ("\x1b[31mred", "", "\x1b"),  # an escape sequence would act in a terminal
        ("tab\there", "", "\t"),
        ("tab\there", "\t", None),
        ("tab\there\n", "\t", "\n"),
    ],
)
def test_a_character_not_shown_as_itself_is_found_but_for_the_joiners_and_what_is_allowed(
    text, allowed, unseen
):
    assert storable.unseen_character(text, allowed=allowed) == unseen

"""Every field the hub stores, at the largest value it accepts: stored, read back through the API, found again
through its index, and rebuilt from the log to the same read models, on both databases.

The values are the hostile ones that are still inside the limits: characters from U+20000 (4 bytes in
UTF-8 each) up to a key's limit in bytes, both ends of the range of times, the deepest nesting. The values
just past each limit are refused: see tests/corpora/hostile.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.rebuild import rebuild
from tests.conftest import store_snapshot
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

ASTRAL = "\U00020000"  # 4 bytes in UTF-8


def utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def logged(supervisor_api, event_id: str) -> dict[str, Any]:
    """The event as GET /api/v1/events returns it."""
    page = supervisor_api.get("/api/v1/events", {"after": 0, "limit": 1000})
    assert page.status_code == 200, page.content
    return next(e for e in page.json()["events"] if e["event"]["id"] == event_id)


def thread(supervisor_api, thread_id: str) -> dict[str, Any]:
    response = supervisor_api.get(f"/api/v1/threads/{thread_id}")
    assert response.status_code == 200, response.content
    return response.json()


def assert_rebuild_gives_the_same_read_models() -> None:
    """A rebuild reads every stored value back from the log and writes it through each index again."""
    before = {k: v for k, v in store_snapshot().items() if k != "ProjectionCheckpoint"}
    rebuild()
    assert {k: v for k, v in store_snapshot().items() if k != "ProjectionCheckpoint"} == before


def mailto(local: str, label: str, size: int) -> str:
    """A mailto: identifier of about `size` bytes: `local`@ then labels of `label` characters."""
    uri = f"mailto:{local}@" + ".".join([label * 20] * 20)
    while utf8(uri) > size - 4:
        uri = uri[:-1]
    return uri.rstrip(".") + ".com"


def test_source_of_1024_bytes_is_stored_and_read_back(api, supervisor_api):
    source = "/sms-gateway/" + ASTRAL * 252 + "abc"
    assert utf8(source) == 1024
    result = post(api, id="src", source=source)
    again = post(api, id="src", source=source)  # the (source, id) index finds it

    assert result["source"] == source and again["duplicate"] and again["position"] == result["position"]
    assert logged(supervisor_api, "src")["event"]["source"] == source
    assert_rebuild_gives_the_same_read_models()


def test_id_of_256_bytes_is_stored_and_read_back(api, supervisor_api):
    event_id = ASTRAL * 64
    result = post(api, id=event_id)

    assert result["id"] == event_id and post(api, id=event_id)["duplicate"]
    assert logged(supervisor_api, event_id)["event"]["id"] == event_id
    assert_rebuild_gives_the_same_read_models()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1970-01-01T14:00:00+14:00", "1970-01-01T00:00:00Z"),
        ("2199-12-31T09:59:59.999999-14:00", "2199-12-31T23:59:59.999999Z"),
    ],
    ids=["earliest", "latest"],
)
def test_time_at_either_end_of_the_range_is_stored_and_read_back(api, supervisor_api, sent, stored):
    result = post(api, id="t", time=sent)

    logged_event = logged(supervisor_api, "t")
    assert logged_event["event"]["time"] == stored
    opened = thread(supervisor_api, result["thread_id"])
    assert opened["timeline"][0]["occurred_at"] == stored
    # The thread's own times are activity, which never comes after the event arrived (2199 is ahead).
    arrived = min(stored, logged_event["recorded_at"])
    assert opened["opened_at"] == opened["last_activity_at"] == arrived
    assert context(api, "tel:+15551234567")["customer"]["first_contact_at"] == arrived  # activity too
    assert_rebuild_gives_the_same_read_models()


def test_subject_of_320_bytes_once_normalised_is_an_identifier_found_again(api, supervisor_api):
    subject = mailto("a" * 64, "é", 320)
    assert 310 < utf8(subject) <= 320
    first = post(api, id="s1", subject=subject.upper().replace("MAILTO:", "mailto:"))
    second = post(api, id="s2", subject=subject)  # resolves through the identifier index

    assert second["customer_id"] == first["customer_id"]
    assert subject in context(api, subject)["customer"]["identifiers"]
    assert logged(supervisor_api, "s1")["event"]["subject"] == subject
    assert_rebuild_gives_the_same_read_models()


def test_an_identifier_in_data_of_320_bytes_links_the_customer(api, supervisor_api):
    other = mailto("b" * 64, "ü", 320)
    first = post(api, id="i1", data={"channel": "sms", "text": "hi", "identifiers": [other]})

    assert context(api, other)["customer"]["id"] == first["customer_id"]
    assert post(api, id="i2", subject=other)["customer_id"] == first["customer_id"]
    assert_rebuild_gives_the_same_read_models()


@pytest.mark.parametrize("key", ["conversation_ref", "in_reply_to", "references"])
def test_a_conversation_key_of_998_bytes_is_stored_and_finds_its_thread(api, supervisor_api, key):
    ref = ASTRAL * 249 + "ab"
    assert utf8(ref) == 998
    first = post(
        api,
        id="c1",
        subject="mailto:ann@example.com",
        data={"channel": "email", "text": "a", "conversation_ref": ref},
    )
    follow = {"references": ["<other@example.com>", ref]} if key == "references" else {key: ref}
    reply = post(
        api,
        id="c2",
        subject="mailto:ann@example.com",
        time="2026-12-10T10:00:00Z",  # past the continuation window: only the key can find the thread
        data={"channel": "email", "text": "b", **follow},
    )

    assert reply["thread_id"] == first["thread_id"]
    assert logged(supervisor_api, "c2")["event"]["data"] == {"channel": "email", "text": "b", **follow}
    assert thread(supervisor_api, first["thread_id"])["timeline"][0]["details"]["conversation_ref"] == ref
    assert_rebuild_gives_the_same_read_models()


def test_text_topic_and_agent_at_their_limits_are_stored_on_the_thread_and_timeline(api, supervisor_api):
    data = {"channel": "sms", "text": ASTRAL * 20_000, "topic": ASTRAL * 120, "agent_id": ASTRAL * 128}
    result = post(api, id="x", type="message.sent", data={**data, "direction": "outbound"})

    detail = thread(supervisor_api, result["thread_id"])
    assert detail["topic"] == data["topic"]
    assert (detail["timeline"][0]["text"], detail["timeline"][0]["agent_id"]) == (
        data["text"],
        data["agent_id"],
    )
    assert_rebuild_gives_the_same_read_models()


def test_unknown_data_nested_to_the_limit_with_odd_text_is_kept_as_sent(api, supervisor_api):
    nest: Any = "bottom"
    for _ in range(62):  # the event is level 1 and data level 2: 64 in all
        nest = [nest]
    extra = {
        "nest": nest,
        "odd": ["\u2028\u2029", "\u200f\u202e", "e\u0301", "\\u0000 as text", "\ufeff", ASTRAL, "\U0010ffff"],
        "é 🙂 \U0010ffff": {"": None, "n": -(2**63), "f": -0.5, "t": True},
    }
    post(api, id="u", data={"channel": "sms", "text": "hi", **extra})

    assert logged(supervisor_api, "u")["event"]["data"] == {"channel": "sms", "text": "hi", **extra}
    assert_rebuild_gives_the_same_read_models()


def test_extension_attributes_and_dataschema_at_their_limits_are_stored_and_read_back(api, supervisor_api):
    attributes = {
        "myext": ASTRAL * 1024,
        "low": -(2**31),
        "high": 2**31 - 1,
        "flag": False,
        "correlationid": ASTRAL * 1024,
        "dataschema": "https://example.com/" + ASTRAL * 251,
    }
    assert utf8(attributes["dataschema"]) == 1024
    post(api, id="e", **attributes)

    stored = logged(supervisor_api, "e")
    assert {k: stored["event"][k] for k in ("myext", "low", "high", "flag", "correlationid")} == {
        k: attributes[k] for k in ("myext", "low", "high", "flag", "correlationid")
    }
    assert stored["metadata"]["dataschema"] == attributes["dataschema"]
    assert stored["metadata"]["correlation_id"] == attributes["correlationid"]
    assert_rebuild_gives_the_same_read_models()


def test_profile_fields_at_their_limits_are_stored_and_read_back(api):
    profile = {
        "name": ASTRAL * 200,
        "language": "-".join(["abcdefgh"] * 4),  # a language tag of 35 characters (it has no astral ones)
        "segment": ASTRAL * 64,
        "timezone": "America/Argentina/ComodRivadavia",
        "preferences": {"é": {"🙂": [1, "x", None]}},
        "consent": {"email": True, "sms": False},
    }
    for birthday in ("0001-01-01", "9999-12-31"):
        post(api, type="customer.profile_updated", data={**profile, "birthday": birthday})
        customer = context(api, "tel:+15551234567")["customer"]
        assert {k: customer[k] for k in profile} == profile and customer["birthday"] == birthday
        assert_rebuild_gives_the_same_read_models()


def test_a_callback_at_the_end_of_the_range_with_the_longest_reason_is_stored_and_read_back(supervisor_api):
    body = {
        "identifier": "tel:+15551234567",
        "phone": "+15551234567",
        "at": "2199-12-31T23:59:59Z",
        "reason": ASTRAL * 2000,
        "timezone": "Pacific/Kiritimati",
    }
    response = supervisor_api.post("/api/v1/callbacks", body, format="json")
    assert response.status_code == 201, response.content

    stored = supervisor_api.get(f"/api/v1/callbacks/{response.json()['id']}").json()
    assert stored["reason"] == body["reason"] and stored["timezone"] == body["timezone"]
    assert stored["not_before"] == "2199-12-31T23:59:59Z"
    assert stored["window_end"] == "2199-12-31T23:59:59.999999Z"  # the default window, cut at the range's end
    assert context(supervisor_api, "tel:+15551234567")["pending_callbacks"][0]["id"] == stored["id"]
    assert_rebuild_gives_the_same_read_models()


def test_a_note_and_a_resolve_reason_at_their_limits_are_stored_and_read_back(api, supervisor_api):
    thread_id = post(api, id="n")["thread_id"]
    note = supervisor_api.post(f"/api/v1/threads/{thread_id}/notes", {"text": ASTRAL * 20_000}, format="json")
    resolved = supervisor_api.post(
        f"/api/v1/threads/{thread_id}/resolve", {"reason": ASTRAL * 2000}, format="json"
    )
    assert (note.status_code, resolved.status_code) == (201, 201), (note.content, resolved.content)

    timeline = thread(supervisor_api, thread_id)["timeline"]
    assert ASTRAL * 20_000 in [entry["text"] for entry in timeline]
    page = supervisor_api.get("/api/v1/events", {"after": 0, "limit": 1000}).json()["events"]
    assert any(e["event"]["data"].get("reason") == ASTRAL * 2000 for e in page)
    assert_rebuild_gives_the_same_read_models()

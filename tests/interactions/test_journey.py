"""One customer across chat, email, SMS and voice: one customer, one thread, full context at every step."""

from __future__ import annotations

from datetime import datetime

import pytest

from hub.events import NewEvent
from interactions.models import Customer, Thread
from interactions.placement.rules import PlacementView
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db
SOURCE = "/sms-gateway/"


def test_chat_then_email_reply_then_sms_then_call_is_one_customer_and_one_thread(api):
    # 1. Chat: an anonymous visitor asks about a bill and types in their e-mail address.
    chat = post(
        api,
        source=SOURCE + "chat",
        subject="chat:visitor-42",
        time="2026-11-23T09:00:00Z",
        data={
            "channel": "chat",
            "text": "My November bill is twice the usual amount",
            "identifiers": ["mailto:Jane.Doe@example.com"],
            "conversation_ref": "chat-session-1",
        },
    )
    ctx = context(api, "chat:visitor-42")
    assert ctx["customer"]["id"] == chat["customer_id"]
    assert ctx["customer"]["identifiers"] == ["chat:visitor-42", "mailto:jane.doe@example.com"]
    assert [t["id"] for t in ctx["open_threads"]] == [chat["thread_id"]]

    # 2. The agent e-mails; the customer's reply threads on In-Reply-To.
    sent = post(
        api,
        source=SOURCE + "mail",
        type="message.sent",
        subject="mailto:jane.doe@example.com",
        time="2026-11-23T09:30:00Z",
        data={
            "channel": "email",
            "text": "Could you confirm your phone number?",
            "conversation_ref": "<m1@hub>",
        },
    )
    reply = post(
        api,
        source=SOURCE + "mail",
        subject="mailto:JANE.DOE@example.com",
        time="2026-11-23T10:15:00Z",
        data={
            "channel": "email",
            "text": "Sure, it's +1 555 123 4567",
            "in_reply_to": "<m1@hub>",
            "conversation_ref": "<m2@jane>",
            "identifiers": ["tel:+1 555 123 4567"],
        },
    )
    assert sent["thread_id"] == reply["thread_id"] == chat["thread_id"]
    assert reply["customer_id"] == chat["customer_id"]

    # 3. An SMS from the phone number the profile now links.
    sms = post(
        api,
        source=SOURCE + "sms",
        subject="tel:+15551234567",
        time="2026-11-23T11:00:00Z",
        data={"channel": "sms", "text": "Any news on my bill?"},
    )
    assert (sms["customer_id"], sms["thread_id"]) == (chat["customer_id"], chat["thread_id"])

    # 4. A phone call from that number: the agent sees everything before answering.
    call = post(
        api,
        source=SOURCE + "pbx",
        type="call.started",
        subject="tel:+15551234567",
        time="2026-11-23T12:00:00Z",
        data={"direction": "inbound", "conversation_ref": "call-9"},
    )
    assert (call["customer_id"], call["thread_id"]) == (chat["customer_id"], chat["thread_id"])

    ctx = context(api, "tel:+15551234567")
    assert Customer.objects.count() == 1 and Thread.objects.count() == 1
    (thread,) = ctx["open_threads"]
    assert [(e["channel"], e["type"]) for e in thread["recent"]] == [
        ("chat", "message.received"),
        ("email", "message.sent"),
        ("email", "message.received"),
        ("sms", "message.received"),
        ("voice", "call.started"),
    ]
    assert thread["recent"][2]["text"] == "Sure, it's +1 555 123 4567"
    assert sorted(thread["channels"]) == ["chat", "email", "sms", "voice"]
    assert ctx["customer"]["channel_counts"] == {"chat": 1, "email": 2, "sms": 1, "voice": 1}
    assert ctx["customer"]["first_contact_at"] == "2026-11-23T09:00:00Z"
    assert ctx["customer"]["last_contact_at"] == "2026-11-23T12:00:00Z"
    assert set(ctx["customer"]["identifiers"]) == {
        "chat:visitor-42",
        "mailto:jane.doe@example.com",
        "tel:+15551234567",
    }


def test_a_different_topic_opens_a_second_thread_and_the_first_topic_names_a_thread(api):
    first = post(api, time="2026-11-23T09:00:00Z", data={"channel": "sms", "text": "Hi"})
    named = post(
        api, time="2026-11-23T09:05:00Z", data={"channel": "sms", "text": "About my bill", "topic": "billing"}
    )
    other = post(
        api, time="2026-11-23T09:10:00Z", data={"channel": "sms", "text": "Also, my router", "topic": "fault"}
    )
    untitled = post(api, time="2026-11-23T09:20:00Z", data={"channel": "sms", "text": "thanks"})
    billing_again = post(
        api, time="2026-11-23T09:30:00Z", data={"channel": "sms", "text": "bill?", "topic": "billing"}
    )

    assert named["thread_id"] == first["thread_id"]
    assert other["thread_id"] != first["thread_id"]
    assert untitled["thread_id"] == other["thread_id"]  # no topic never splits: the most recent open thread
    assert billing_again["thread_id"] == first["thread_id"]
    topics = {t["id"]: t["topic"] for t in context(api, "tel:+15551234567")["open_threads"]}
    assert topics == {first["thread_id"]: "billing", other["thread_id"]: "fault"}


def test_after_the_continuation_window_a_new_thread_opens(api, settings):
    settings.THREADLINE_CONTINUATION_WINDOW_HOURS = 72
    first = post(api, time="2026-11-01T09:00:00Z")
    within = post(api, time="2026-11-04T08:59:00Z")
    after = post(api, time="2026-11-07T09:00:00Z")

    assert within["thread_id"] == first["thread_id"]
    assert after["thread_id"] != first["thread_id"]
    assert after["customer_id"] == first["customer_id"]


def test_placement_loads_only_the_open_threads_an_event_could_continue(api, settings):
    """Open threads are never closed by time, so a customer's history of them only grows; placement reads
    those active within the window before the event, and no more."""
    settings.THREADLINE_CONTINUATION_WINDOW_HOURS = 72
    old = post(api, time="2026-10-01T09:00:00Z")
    recent = post(api, time="2026-11-20T09:00:00Z")
    assert old["thread_id"] != recent["thread_id"]

    def loaded(at: str) -> set[str]:
        event = NewEvent(
            source="/sms-gateway/eu-1",
            id=f"probe-{at}",
            type="message.received",
            stream="",
            data={"channel": "sms", "text": "hello"},
            subject="tel:+15551234567",
            occurred_at=datetime.fromisoformat(at),
        )
        return set(PlacementView.load([event]).threads)

    assert loaded("2026-11-21T09:00:00+00:00") == {recent["thread_id"]}
    # An event sent late, dated back to the old conversation, still sees the thread it could continue.
    assert loaded("2026-10-02T09:00:00+00:00") == {old["thread_id"], recent["thread_id"]}


def test_an_inbound_reply_to_a_resolved_thread_within_the_window_reopens_it(api, supervisor_api):
    first = post(
        api, time="2026-11-23T09:00:00Z", data={"channel": "email", "text": "Hi", "conversation_ref": "<a@x>"}
    )
    assert supervisor_api.post(f"/api/v1/threads/{first['thread_id']}/resolve").status_code == 201

    reply = post(
        api,
        time="2026-11-23T10:00:00Z",
        data={
            "channel": "email",
            "text": "Still broken",
            "in_reply_to": "<a@x>",
            "conversation_ref": "<b@x>",
        },
    )

    assert reply["thread_id"] == first["thread_id"]
    assert Thread.objects.get(pk=first["thread_id"]).status == "open"


def test_a_new_message_does_not_continue_a_resolved_thread_without_a_reference(api, supervisor_api):
    first = post(api, time="2026-11-23T09:00:00Z")
    supervisor_api.post(f"/api/v1/threads/{first['thread_id']}/resolve")

    later = post(api, time="2026-11-23T10:00:00Z")

    assert later["thread_id"] != first["thread_id"]


def test_an_event_naming_a_known_thread_goes_to_it(api):
    first = post(api, time="2026-11-23T09:00:00Z", data={"channel": "sms", "text": "a", "topic": "billing"})
    post(api, time="2026-11-23T09:05:00Z", data={"channel": "sms", "text": "b", "topic": "fault"})

    named = post(
        api,
        time="2026-11-23T09:10:00Z",
        data={"channel": "sms", "text": "c", "topic": "fault", "thread_id": first["thread_id"]},
    )

    assert named["thread_id"] == first["thread_id"]


def test_an_event_linking_two_customers_merges_them_and_the_old_id_keeps_resolving(api):
    phone = post(api, subject="tel:+15551234567", time="2026-11-23T09:00:00Z")
    email = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-11-23T09:05:00Z",
        data={"channel": "email", "text": "hello", "topic": "fault"},
    )
    assert phone["customer_id"] != email["customer_id"]

    link = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-11-23T09:10:00Z",
        data={
            "channel": "email",
            "text": "my number is +15551234567",
            "identifiers": ["tel:+15551234567"],
            "topic": "fault",
        },
    )

    survivor = phone["customer_id"]  # the older customer survives
    assert link["customer_id"] == survivor
    merged = api.get(f"/api/v1/customers/{email['customer_id']}/context").json()
    assert merged["customer"]["id"] == survivor
    assert set(merged["customer"]["identifiers"]) == {"tel:+15551234567", "mailto:jane@example.com"}
    assert {t["id"] for t in merged["open_threads"]} == {phone["thread_id"], email["thread_id"]}
    assert merged["customer"]["channel_counts"] == {"sms": 1, "email": 2}
    assert Customer.objects.get(pk=email["customer_id"]).merged_into_id is not None
    types = [e["event"]["type"] for e in api.get("/api/v1/events").json()["events"]]
    assert types  # the integration sees its own events; the merge itself is in the log:
    from hub.models import StoredEvent

    assert StoredEvent.objects.filter(type="customer.merged").count() == 1


def test_profile_updates_and_surveys_show_in_the_context(api):
    post(api, time="2026-11-20T09:00:00Z")
    post(
        api,
        type="customer.profile_updated",
        data={
            "name": "Jane Doe",
            "language": "en-GB",
            "timezone": "Europe/London",
            "segment": "gold",
            "birthday": "1990-04-01",
            "consent": {"sms": True, "marketing": False},
            "preferences": {"channel": "email"},
        },
    )
    for score, day in ((2, 21), (3, 22), (5, 23)):
        post(
            api,
            type="survey.answered",
            time=f"2026-11-{day}T09:00:00Z",
            data={"channel": "sms", "metric": "csat", "score": score},
        )
    post(api, type="survey.answered", data={"channel": "voice", "metric": "nps", "score": 9})

    ctx = context(api, "tel:+15551234567")

    profile = ctx["customer"]
    assert (profile["name"], profile["language"], profile["timezone"], profile["segment"]) == (
        "Jane Doe",
        "en-GB",
        "Europe/London",
        "gold",
    )
    assert profile["birthday"] == "1990-04-01"
    assert profile["consent"] == {"sms": True, "marketing": False}
    assert ctx["surveys"]["csat"] == {
        "last": 5,
        "at": "2026-11-23T09:00:00+00:00",
        "trend": "up",
        "history": [2, 3, 5],
    }
    assert ctx["surveys"]["nps"]["last"] == 9 and ctx["surveys"]["nps"]["trend"] is None


def test_a_survey_answer_delivered_late_lands_in_place_also_across_a_merge(api):
    """Answers were kept in the order they arrived: a CSAT 1 from two days ago, delivered after an hour-old
    CSAT 5, became the latest answer (and the next best actions apologised for it)."""
    from tests.interactions.test_stored_fields import assert_rebuild_gives_the_same_read_models

    phone, mail = "tel:+15551234567", "mailto:jane@example.com"
    post(api, subject=phone, time="2026-11-20T09:00:00Z")
    post(api, subject=mail, time="2026-11-20T10:00:00Z", data={"channel": "email", "text": "hi"})

    def answer(subject: str, at: str, score: int) -> None:
        data = {"channel": "sms", "metric": "csat", "score": score}
        post(api, subject=subject, type="survey.answered", time=at, data=data)

    answer(phone, "2026-11-23T09:00:00Z", 5)
    answer(phone, "2026-11-21T09:00:00Z", 1)  # given two days earlier, delivered late
    assert context(api, phone)["surveys"]["csat"] == {
        "last": 5,
        "at": "2026-11-23T09:00:00+00:00",
        "trend": "up",
        "history": [1, 5],
    }
    answer(mail, "2026-11-22T09:00:00Z", 2)  # the other customer's, between the two
    post(api, subject=phone, data={"channel": "sms", "text": "also me", "identifiers": [mail]})  # merge

    assert context(api, phone)["surveys"]["csat"]["history"] == [1, 2, 5]
    assert_rebuild_gives_the_same_read_models()


def test_preferences_and_consent_hold_their_latest_statement_across_a_merge_and_late_events(api):
    """A merge kept the survivor's value key by key: a consent withdrawn on the merged customer after the
    survivor's older yes was undone. And a late statement (an older time, arriving later) won."""
    from tests.interactions.test_stored_fields import assert_rebuild_gives_the_same_read_models

    phone, mail = "tel:+15551234567", "mailto:jane@example.com"
    post(api, subject=phone, time="2026-11-20T09:00:00Z")  # the older customer: it survives
    post(api, subject=mail, time="2026-11-20T10:00:00Z", data={"channel": "email", "text": "hi"})

    def state(subject: str, at: str, **fields) -> None:
        post(api, subject=subject, type="customer.profile_updated", time=at, data=fields)

    state(
        phone,
        "2026-11-21T09:00:00Z",
        consent={"marketing": True, "sms": True},
        preferences={"channel": "sms"},
    )
    state(mail, "2026-11-22T09:00:00Z", consent={"marketing": False}, preferences={"channel": "email"})
    state(mail, "2026-11-20T11:00:00Z", consent={"sms": False})  # older than the phone's yes to sms
    link = {"channel": "email", "text": "my number", "identifiers": [phone]}
    post(api, subject=mail, time="2026-11-23T09:00:00Z", data=link)
    state(phone, "2026-11-21T12:00:00Z", preferences={"channel": "voice"})  # late: the e-mail's is later

    profile = context(api, phone)["customer"]

    assert profile["consent"] == {"marketing": False, "sms": True}
    assert profile["preferences"] == {"channel": "email"}
    assert_rebuild_gives_the_same_read_models()


def test_a_contact_stamped_ahead_of_its_arrival_counts_as_arriving_for_first_and_last_contact(api):
    """Threads counted such an event as arriving, the customer's first and last contact did not: a sender's
    clock a year fast made the last contact a year ahead for good, and the first contact a later one."""
    from django.utils import timezone as tz

    from tests.interactions.test_stored_fields import assert_rebuild_gives_the_same_read_models

    before = tz.now()
    post(api, subject="tel:+15559990000", time="2099-12-05T10:00:00Z")  # the clock is far ahead
    post(
        api, subject="tel:+15559990000", time=tz.now().isoformat(), data={"channel": "chat", "text": "later"}
    )
    after = tz.now()

    customer = Customer.objects.get(identifiers__uri="tel:+15559990000")
    assert before <= customer.first_contact_at <= customer.last_contact_at <= after
    assert_rebuild_gives_the_same_read_models()

"""What counts as activity on a thread (README: "a message, a call, a callback request or a completed
callback call"): the continuation window runs from it, and lists are ordered by it. What follows a message or
a call (a status, a read receipt, a call's end), an agent's note, and a message a machine wrote are recorded
on the thread but are not activity, and what follows a call reopens nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interactions.models import Thread
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
JANE = "mailto:jane@example.com"
PHONE = "tel:+15551230077"


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def test_a_late_bounce_does_not_revive_a_resolved_thread_for_the_customers_next_reply(api, supervisor_api):
    """It moved the thread's last activity to the bounce: the customer's reply, weeks after, reopened the
    old thread instead of opening a new one."""
    first = post(api, subject=JANE, time=ago(days=20), data={"channel": "email", "text": "Where is it?"})
    post(
        api,
        type="message.sent",
        subject=JANE,
        time=ago(days=20),
        data={"channel": "email", "text": "Sent today", "conversation_ref": "<a-1@shop.example>"},
    )
    assert supervisor_api.post(f"/api/v1/threads/{first['thread_id']}/resolve").status_code == 201
    bounce = post(
        api,
        subject=JANE,
        time=ago(hours=2),
        data={
            "channel": "email",
            "text": "Delivery failed",
            "in_reply_to": "<a-1@shop.example>",
            "automated": "bounce",
            "bounce": "soft",
        },
    )
    assert bounce["thread_id"] == first["thread_id"]  # recorded where it belongs

    reply = post(
        api,
        subject=JANE,
        time=ago(hours=1),
        data={"channel": "email", "text": "Still nothing", "in_reply_to": "<a-1@shop.example>"},
    )

    assert reply["thread_id"] != first["thread_id"]
    assert Thread.objects.get(pk=first["thread_id"]).status == "resolved"


def test_a_read_receipt_does_not_keep_an_old_thread_collecting_new_contacts(api):
    old = post(
        api,
        type="message.sent",
        subject=PHONE,
        time=ago(hours=100),  # past the 72 h window
        data={"channel": "sms", "text": "Your order shipped", "message_ref": "SM-old-1"},
    )
    status = post(
        api,
        type="message.status",
        subject=PHONE,
        time=ago(hours=1),
        data={"channel": "sms", "status": "read", "message_ref": "SM-old-1"},
    )
    assert status["thread_id"] == old["thread_id"]

    new = post(api, subject=PHONE, time=ago(minutes=5), data={"channel": "sms", "text": "New question"})

    assert new["thread_id"] != old["thread_id"]


def test_an_agents_note_does_not_extend_the_continuation_window(api, agent_api, settings):
    settings.THREADLINE_CONTINUATION_WINDOW_HOURS = 1
    old = post(api, subject=PHONE, time=ago(hours=3), data={"channel": "sms", "text": "First question"})
    note = agent_api.post(f"/api/v1/threads/{old['thread_id']}/notes", {"text": "called back"}, format="json")
    assert note.status_code == 201

    new = post(api, subject=PHONE, time=ago(minutes=1), data={"channel": "sms", "text": "Unrelated"})

    assert new["thread_id"] != old["thread_id"]
    listed = agent_api.get("/api/v1/threads", {"customer": new["customer_id"]}).json()["results"]
    assert [t["id"] for t in listed] == [new["thread_id"], old["thread_id"]]  # most recently active first


def test_the_end_of_a_call_the_agent_resolved_does_not_reopen_its_thread(api, agent_api):
    """Twilio's completed callback comes after the agent resolved the call's thread: it reopened it."""
    call = {"direction": "inbound", "conversation_ref": "CA-resolved-1"}
    started = post(
        api, type="call.started", subject=PHONE, time=ago(minutes=10), data={"channel": "voice", **call}
    )
    assert agent_api.post(f"/api/v1/threads/{started['thread_id']}/resolve").status_code == 201

    ended = post(
        api,
        type="call.ended",
        subject=PHONE,
        time=ago(minutes=1),
        data={"channel": "voice", "duration_seconds": 540, "disposition": "completed", **call},
    )

    assert ended["thread_id"] == started["thread_id"]
    assert Thread.objects.get(pk=started["thread_id"]).status == "resolved"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("note.added", {"channel": "internal", "text": "CRM: asked about a parcel", "topic": "shipping"}),
        ("survey.answered", {"channel": "sms", "metric": "csat", "score": 4, "topic": "shipping"}),
        (
            "message.status",
            {"channel": "sms", "status": "delivered", "message_ref": "SM-x", "topic": "shipping"},
        ),
    ],
)
def test_a_thread_opened_by_what_is_not_activity_does_not_collect_the_next_contact(api, kind, data):
    """The thread a note, a survey answer or a status opened started with its opener's time as its last
    activity: the customer's next message joined it (or, beside an older open thread, it won that one's
    reply) though nothing on it was the customer contacting."""
    from tests.interactions.test_stored_fields import assert_rebuild_gives_the_same_read_models

    billing = post(
        api, subject=PHONE, time=ago(hours=3), data={"channel": "sms", "text": "my bill", "topic": "billing"}
    )
    opened = post(api, subject=PHONE, type=kind, time=ago(hours=2), data=data)
    reply = post(
        api, subject=PHONE, time=ago(hours=1), data={"channel": "sms", "text": "any news on my bill?"}
    )

    assert opened["thread_id"] != billing["thread_id"]  # another topic: a thread of its own
    assert reply["thread_id"] == billing["thread_id"]  # the one the customer is active on
    assert_rebuild_gives_the_same_read_models()


def test_a_thread_opened_by_a_survey_answer_alone_is_not_continued_by_a_later_message(api):
    survey = post(
        api,
        subject=PHONE,
        type="survey.answered",
        time=ago(hours=2),
        data={"channel": "sms", "metric": "csat", "score": 2},
    )
    message = post(api, subject=PHONE, time=ago(hours=1), data={"channel": "sms", "text": "hello again"})

    assert message["thread_id"] != survey["thread_id"]

"""Auto-replies and bounces are recorded on their thread but are not the customer writing: they reopen no
resolved thread and count as no contact."""

from __future__ import annotations

import pytest

from interactions.models import Customer, Thread
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db


def _resolved_thread(api, supervisor_api) -> dict:
    first = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-11-23T09:00:00Z",
        data={"channel": "email", "text": "Where is my refund?", "conversation_ref": "<q-1@mail.example>"},
    )
    sent = post(
        api,
        type="message.sent",
        subject="mailto:jane@example.com",
        time="2026-11-23T09:30:00Z",
        data={"channel": "email", "text": "Refund issued", "conversation_ref": "<agent-1@shop.example>"},
    )
    assert sent["thread_id"] == first["thread_id"]
    assert supervisor_api.post(f"/api/v1/threads/{first['thread_id']}/resolve").status_code == 201
    return first


@pytest.mark.parametrize(
    "marks",
    [
        {"automated": "auto-reply"},
        {"automated": "bounce", "bounce": "hard", "bounced_recipients": ["jane@example.com"]},
        {"automated": "read-receipt"},
    ],
)
def test_a_machine_reply_to_a_resolved_thread_joins_it_without_reopening_it(api, supervisor_api, marks):
    first = _resolved_thread(api, supervisor_api)
    counts_before = Customer.objects.get(pk=first["customer_id"]).channel_counts

    machine = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-11-23T10:00:00Z",
        data={"channel": "email", "text": "Out of office", "in_reply_to": "<agent-1@shop.example>", **marks},
    )

    assert machine["thread_id"] == first["thread_id"]
    assert Thread.objects.get(pk=first["thread_id"]).status == "resolved"
    customer = Customer.objects.get(pk=first["customer_id"])
    assert customer.channel_counts == counts_before == {"email": 2}
    assert customer.last_contact_at.isoformat() == "2026-11-23T09:30:00+00:00"


def test_a_late_bounce_of_a_long_closed_conversation_opens_no_new_thread(api, supervisor_api):
    first = _resolved_thread(api, supervisor_api)
    bounce = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-12-20T10:00:00Z",  # weeks after: past the continuation window
        data={
            "channel": "email",
            "text": "Delivery failed",
            "in_reply_to": "<agent-1@shop.example>",
            "automated": "bounce",
            "bounce": "hard",
        },
    )
    assert bounce["thread_id"] == first["thread_id"]
    assert Thread.objects.filter(customer_id=first["customer_id"]).count() == 1


def test_the_customer_writing_again_still_reopens(api, supervisor_api):
    first = _resolved_thread(api, supervisor_api)
    reply = post(
        api,
        subject="mailto:jane@example.com",
        time="2026-11-23T10:00:00Z",
        data={"channel": "email", "text": "Not received", "in_reply_to": "<agent-1@shop.example>"},
    )
    assert reply["thread_id"] == first["thread_id"]
    assert Thread.objects.get(pk=first["thread_id"]).status == "open"
    assert context(api, "mailto:jane@example.com")["customer"]["channel_counts"] == {"email": 3}

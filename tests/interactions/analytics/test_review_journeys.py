"""Review findings on journeys (README "Journeys"): each test is a hand-built thread whose right figures are
worked out by hand in it, and fails on the code reviewed."""

from __future__ import annotations

import pytest

from interactions.threads import idling
from tests.interactions.analytics.test_journeys import DAYS, JOURNEYS, at, clock, z
from tests.interactions.analytics.test_surveys import measures
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
EVE = "tel:+15550000005"
__all__ = ["clock"]  # the hub's clock fixture, as test_journeys sets it


def steps(supervisor_api) -> dict[str, dict]:
    body = measures(supervisor_api, path=JOURNEYS, **DAYS)
    return {t["step"]: t for t in body["totals"]}


def test_an_abandoned_inbound_call_does_not_answer_the_customers_message(api, supervisor_api, clock):
    # Eve texts at 10:00 and waits. At 10:10 she calls; nobody picks up (call.ended 10:11, `no-answer`).
    # Nobody ever answers her text; the thread is resolved at 12:00.
    # README: a wait ends at "a call with them"; an abandoned call "reached no one", so it is no answer.
    # sms: waits 0 (a resolution is no answer), unanswered 1 (the SLA passed at 10:00 + 60 min = 11:00,
    #      before the 12:00 resolution).
    # voice: abandoned 1.
    eve = post(
        api, subject=EVE, time=z("10:00"), data={"channel": "sms", "text": "bill?", "topic": "billing"}
    )
    call = {"direction": "inbound", "conversation_ref": "call-eve"}
    post(api, subject=EVE, type="call.started", time=z("10:10"), data=call)
    post(api, subject=EVE, type="call.ended", time=z("10:11"),
         data={**call, "duration_seconds": 0, "disposition": "no-answer"})  # fmt: skip
    clock(z("12:00"))
    resolved = supervisor_api.post(f"/api/v1/threads/{eve['thread_id']}/resolve", {}, format="json")
    assert resolved.status_code == 201, resolved.content
    clock(z("23:59", 23))

    by_step = steps(supervisor_api)
    assert by_step["voice"]["abandoned"] == 1
    assert by_step["sms"]["waits"] == 0  # nobody answered her text
    assert by_step["sms"]["unanswered"] == 1  # 10:00 + 60 min = 11:00 < 12:00, still unanswered


def test_the_end_of_a_call_already_started_is_no_new_step(api, supervisor_api, clock):
    # README: a step is an inbound call (`call.started`, or a `call.ended` that never started).
    # Eve calls at 10:00 (voice), texts during the call at 10:05 (sms), the call ends at 10:10.
    # Her journey: start -> voice (10:00), voice -> sms (10:05). The call's end is the same call, not a
    # new contact: voice 1 entry, sms 1 entry, no sms -> voice transition.
    call = {"direction": "inbound", "conversation_ref": "call-eve", "topic": "billing"}
    post(api, subject=EVE, type="call.started", time=z("10:00"), data=call)
    post(api, subject=EVE, time=z("10:05"), data={"channel": "sms", "text": "my account is 123"})
    post(api, subject=EVE, type="call.ended", time=z("10:10"),
         data={**call, "duration_seconds": 600, "disposition": "completed"})  # fmt: skip

    body = measures(supervisor_api, path=JOURNEYS, **DAYS)
    by_step = {t["step"]: t for t in body["totals"]}
    assert by_step["voice"]["entries"] == 1
    assert by_step["sms"]["entries"] == 1
    moves = {(t["from"], t["to"]): t["transitions"] for t in body["transitions"]}
    assert moves == {("start", "voice"): 1, ("voice", "sms"): 1}


def test_an_answer_that_reached_the_hub_before_the_message_it_answers(api, supervisor_api, clock):
    # Eve texts at 10:00, but her gateway delivers the message to the hub late: the agent's reply, sent at
    # 10:30, is in the log first. Her message was answered 30 minutes after it, inside the 60-minute SLA.
    # The thread is resolved at 12:00.
    # sms: waits 1, mean_wait_seconds 1800 (10:00 -> 10:30), unanswered 0 (10:30 < 11:00).
    eve = post(api, subject=EVE, type="message.sent", time=z("10:30"),
               data={"channel": "sms", "text": "Yes, it is refunded", "topic": "billing"})  # fmt: skip
    post(api, subject=EVE, time=z("10:00"), data={"channel": "sms", "text": "refunded?"})
    clock(z("12:00"))
    resolved = supervisor_api.post(f"/api/v1/threads/{eve['thread_id']}/resolve", {}, format="json")
    assert resolved.status_code == 201, resolved.content
    clock(z("23:59", 23))

    sms = steps(supervisor_api)["sms"]
    assert sms["unanswered"] == 0  # answered at 10:30, inside the SLA
    assert (sms["waits"], sms["mean_wait_seconds"]) == (1, 1800.0)


def test_an_assisted_contact_before_the_self_service_is_no_bounce(api, supervisor_api, clock):
    # README: a self-service visit *followed*, within 24 h, by an assisted contact is `bounced`.
    # Eve texts an agent at 09:50 (sms, assisted), then writes to the bot at 10:00 (chat:self-service); her
    # 09:50 text reaches the hub late, after the bot chat. Nothing assisted follows 10:00: no bounce.
    # chat:self-service: entries 1, bounced 0, bounce_rate 0 / 1 = 0.0.
    post(api, subject=EVE, time=z("10:00"),
         data={"channel": "chat", "self_service": True, "text": "bill", "topic": "billing"})  # fmt: skip
    post(api, subject=EVE, time=z("09:50"), data={"channel": "sms", "text": "my bill is wrong"})

    bot = steps(supervisor_api)["chat:self-service"]
    assert (bot["entries"], bot["bounced"], bot["bounce_rate"]) == (1, 0, 0.0)


def test_a_thread_the_hub_opened_for_an_outcome_is_no_journey_dead_end(api, supervisor_api, clock):
    # The billing system records a sale for Eve at 10:00 on the 20th; she has no active thread, so the outcome
    # opens one (README "Outcomes"). She was never in touch on it: it has no step. It goes idle on the 23rd.
    # README "Journeys": a dead-end is counted "at the step where [it] happened"; a thread where the customer
    # took no step is no journey of theirs, so no step has a dead-end: no row at all (and no `start` step).
    post(api, subject=EVE, type="outcome.recorded", time=z("10:00"),
         data={"kind": "sale", "value": "10.00", "currency": "EUR"})  # fmt: skip
    clock(z("11:00", 23))  # 73 h later: past the continuation window
    assert idling.threads_idle(now=at(z("11:00", 23))) == 1
    clock(z("23:59", 23))

    assert steps(supervisor_api) == {}


def test_a_transfer_counts_at_the_calls_step(api, supervisor_api, clock):
    # README: `transfers` are "calls transferred at that step". Eve calls at 10:00 (voice), texts a photo
    # during the call at 10:05 (sms), and the call is transferred at 10:06: 1 transfer at voice, 0 at sms.
    call = {"direction": "inbound", "conversation_ref": "call-eve", "topic": "billing"}
    post(api, subject=EVE, type="call.started", time=z("10:00"), data=call)
    post(api, subject=EVE, time=z("10:05"), data={"channel": "sms", "text": "here is the photo"})
    post(api, subject=EVE, type="call.transferred", time=z("10:06"), data={**call, "to_queue": "billing"})

    by_step = steps(supervisor_api)
    assert (by_step["voice"]["transfers"], by_step["sms"]["transfers"]) == (1, 0)

"""Next best actions over the API: the context answer carries them (and `reachable`), and an agent's
take-up or dismissal is recorded as an event, counted per rule, and refused clearly when it names what is
not there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from hub.models import StoredEvent
from interactions.models import Customer, Role
from interactions.nba.models import RuleTakeUp
from tests.conftest import client_for, log_snapshot
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

PHONE = "tel:+15551234567"
RULE = "apologise-for-bad-rating"


@pytest.fixture
def agent(db):
    return ApiTokenFactory(role=Role.AGENT)


@pytest.fixture
def agent_api(agent):
    return client_for(agent)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def answer(client, customer_id, rule_id: str = RULE, outcome: str = "taken", **body):
    return client.post(
        f"/api/v1/customers/{customer_id}/next-best-actions/{rule_id}/{outcome}", body, format="json"
    )


def test_the_context_answer_carries_reachable_and_ranked_next_best_actions(api):
    now = datetime.now(UTC)
    placed = post(api, subject=PHONE, time=_iso(now - timedelta(hours=23, minutes=30)),
                  data={"channel": "whatsapp", "text": "my order is late"})  # fmt: skip
    post(api, subject=PHONE, time=_iso(now - timedelta(hours=2)), type="survey.answered",
         data={"channel": "whatsapp", "metric": "csat", "score": 1})  # fmt: skip
    post(api, subject=PHONE, type="customer.profile_updated", data={"language": "de"})

    body = context(api, PHONE)

    assert body["reachable"]["whatsapp"]["open"] is True
    actions = body["next_best_actions"]
    assert [a["id"] for a in actions] == [RULE, "whatsapp-window-closing", "use-preferred-language"]
    assert actions[0]["do"] == "Acknowledge their CSAT rating of 1 and apologise before anything else."
    assert actions[0]["facts"] == {
        "metric": "CSAT",
        "score": 1,
        "day": (now - timedelta(hours=2)).date().isoformat(),
    }
    assert 25 <= actions[1]["facts"]["minutes_left"] <= 30
    assert actions[2]["why"] == "Their profile's language is de."
    by_id = client_for(ApiTokenFactory(role=Role.AGENT)).get(
        f"/api/v1/customers/{placed['customer_id']}/context"
    )
    assert by_id.json()["next_best_actions"][0]["id"] == RULE


def test_a_profile_takes_language_tags_with_hyphen_or_underscore_and_a_preferred_channel_in_any_case(api):
    post(api, subject=PHONE, data={"channel": "sms", "text": "hi"})
    preferences = {"channel": " Voice ", "newsletter": "weekly"}  # open: null, with no zone known
    post(
        api,
        subject=PHONE,
        type="customer.profile_updated",
        data={"language": "pt_BR", "preferences": preferences},
    )

    body = context(api, PHONE)

    assert body["customer"]["language"] == "pt_BR"
    assert body["customer"]["preferences"] == {"channel": " Voice ", "newsletter": "weekly"}
    by_id = {a["id"]: a for a in body["next_best_actions"]}
    assert by_id["use-preferred-channel"]["facts"] == {"channel": "Voice", "current_channel": "sms"}
    assert by_id["use-preferred-language"]["facts"] == {"language": "pt_BR"}
    post(
        api,
        subject=PHONE,
        type="customer.profile_updated",
        data={"language": "", "preferences": {"channel": None}},
    )
    assert context(api, PHONE)["customer"]["language"] is None  # empty clears it


def test_a_preferred_channel_they_opted_out_of_is_not_recommended(api):
    now = datetime.now(UTC)
    post(api, subject=PHONE, time=_iso(now - timedelta(hours=1)), data={"channel": "sms", "text": "STOP"})
    post(
        api,
        subject="mailto:ann@example.com",
        time=_iso(now),
        data={"channel": "email", "text": "my bill", "identifiers": [PHONE]},
    )
    post(api, subject=PHONE, type="customer.profile_updated", data={"preferences": {"channel": "sms"}})

    body = context(api, PHONE)

    assert body["reachable"]["sms"]["open"] is False
    assert "use-preferred-channel" not in {a["id"] for a in body["next_best_actions"]}


def test_out_of_office_replies_are_not_repeat_contacts(api):
    now = datetime.now(UTC)
    for hours in (5, 3, 1):
        post(
            api,
            subject="mailto:ann@example.com",
            time=_iso(now - timedelta(hours=hours)),
            data={"channel": "email", "text": "I am out of office", "automated": "auto-reply"},
        )

    body = context(api, "mailto:ann@example.com")

    assert body["open_threads"][0]["recent"][0]["details"]["automated"] == "auto-reply"
    assert "own-repeat-contact" not in {a["id"] for a in body["next_best_actions"]}


def test_a_customer_with_nothing_to_recommend_gets_an_empty_list(api):
    post(api, subject=PHONE)

    assert context(api, PHONE)["next_best_actions"] == []


@pytest.mark.parametrize("outcome", ["taken", "dismissed"])
def test_an_agent_records_taking_or_dismissing_a_recommendation(agent_api, agent, api, outcome):
    placed = post(api, subject=PHONE)

    response = answer(agent_api, placed["customer_id"], outcome=outcome, thread_id=placed["thread_id"],
                      reason="done on the phone")  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"position": body["position"], "type": f"nba.{outcome}", "rule_id": RULE,
                    "customer_id": placed["customer_id"], "thread_id": placed["thread_id"]}  # fmt: skip
    assert response["Threadline-Position"] == str(body["position"])
    stored = StoredEvent.objects.get(position=body["position"])
    assert stored.type == f"nba.{outcome}"
    assert stored.stream == f"nba-{placed['customer_id']}"
    assert stored.data == {
        "rule_id": RULE, "customer_id": placed["customer_id"], "thread_id": placed["thread_id"],
        "agent_id": str(agent.pk), "reason": "done on the phone",
    }  # fmt: skip
    assert stored.metadata["customer_id"] == placed["customer_id"]
    assert stored.metadata["thread_id"] == placed["thread_id"]


def test_take_up_is_counted_per_rule_and_shown_by_the_command(agent_api, api):
    placed = post(api, subject=PHONE)
    for outcome in ("taken", "taken", "dismissed"):
        assert answer(agent_api, placed["customer_id"], outcome=outcome).status_code == 201
    assert (
        answer(agent_api, placed["customer_id"], rule_id="birthday", outcome="dismissed").status_code == 201
    )

    out = StringIO()
    call_command("nba_takeup", "--json", stdout=out)
    rows = {r["rule_id"]: r for r in map(json.loads, out.getvalue().splitlines())}
    table = StringIO()
    call_command("nba_takeup", stdout=table)

    assert RuleTakeUp.objects.get(rule_id=RULE).taken == 2
    assert (rows[RULE]["taken"], rows[RULE]["dismissed"], rows[RULE]["take_up"]) == (2, 1, 0.667)
    assert (rows["birthday"]["taken"], rows["birthday"]["dismissed"], rows["birthday"]["take_up"]) == (
        0,
        1,
        0.0,
    )
    assert rows["mention-callback"]["take_up"] is None
    assert f"{RULE:<32}       2         1      67%" in table.getvalue()


def test_a_rebuild_counts_the_same_take_up(agent_api, api):
    placed = post(api, subject=PHONE)
    answer(agent_api, placed["customer_id"], outcome="taken")
    answer(agent_api, placed["customer_id"], outcome="dismissed")
    before = list(RuleTakeUp.objects.values())

    call_command("rebuild_projections", verbosity=0)

    assert list(RuleTakeUp.objects.values()) == before


def test_a_merged_customer_id_records_on_the_survivor(agent_api, api):
    first = post(api, subject=PHONE)
    second = post(api, subject="mailto:jane@example.com")
    post(
        api, subject=PHONE, data={"channel": "sms", "text": "me", "identifiers": ["mailto:jane@example.com"]}
    )

    merged = Customer.objects.get(merged_into__isnull=False)
    survivor = str(merged.merged_into_id)

    response = answer(agent_api, merged.pk)

    assert {str(merged.pk), survivor} == {first["customer_id"], second["customer_id"]}
    assert response.status_code == 201, response.content
    assert response.json()["customer_id"] == survivor


@pytest.mark.parametrize(
    ("path_rule", "customer", "status", "detail"),
    [
        ("no-such-rule", "known", 404, "no next best action rule 'no-such-rule'"),
        (RULE, "unknown", 404, "no customer"),
    ],
)
def test_an_unknown_rule_or_customer_is_a_404_problem_and_writes_nothing(agent_api, api, path_rule, customer,
                                                                           status, detail):  # fmt: skip
    placed = post(api, subject=PHONE)
    customer_id = placed["customer_id"] if customer == "known" else "00000000-0000-4000-8000-000000000000"
    before = log_snapshot()

    response = answer(agent_api, customer_id, rule_id=path_rule)

    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert log_snapshot() == before


def test_a_thread_of_another_customer_is_refused_naming_thread_id(agent_api, api):
    mine = post(api, subject=PHONE)
    other = post(api, subject="tel:+15557654321")
    before = log_snapshot()

    response = answer(agent_api, mine["customer_id"], thread_id=other["thread_id"])

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["thread_id"]
    assert log_snapshot() == before


def test_an_integration_may_read_recommendations_but_not_answer_them(api):
    placed = post(api, subject=PHONE)
    before = log_snapshot()

    response = answer(api, placed["customer_id"])

    assert response.status_code == 403
    assert "may not answer next best actions" in response.json()["detail"]
    assert log_snapshot() == before


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
def test_supervisors_and_admins_may_answer_too(api, role):
    placed = post(api, subject=PHONE)

    assert answer(client_for(ApiTokenFactory(role=role)), placed["customer_id"]).status_code == 201


def test_an_answer_sent_again_with_its_idempotency_key_is_counted_once(agent_api, api):
    # A retry after a lost answer recorded a second take-up and inflated the rule's rate.
    placed = post(api, subject=PHONE)
    url = f"/api/v1/customers/{placed['customer_id']}/next-best-actions/{RULE}/taken"

    first = agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="nba-retry-1")
    again = agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="nba-retry-1")
    dismissed = agent_api.post(
        url.replace("/taken", "/dismissed"), {}, format="json", HTTP_IDEMPOTENCY_KEY="nba-retry-1"
    )

    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert dismissed.status_code == 409  # the same key for another answer
    assert RuleTakeUp.objects.get(rule_id=RULE).taken == 1
    assert StoredEvent.objects.filter(type__in=["nba.taken", "nba.dismissed"]).count() == 1


def test_an_answer_retried_after_its_customer_was_merged_is_the_same_answer(agent_api, api):
    # The retry names the survivor where the first named the customer merged since: it was refused 409.
    # Both customers are answered, so one of them is the merged-away one whichever survives.
    customers = [
        post(api, subject=PHONE)["customer_id"],
        post(api, subject="mailto:jane@example.com")["customer_id"],
    ]
    urls = [f"/api/v1/customers/{c}/next-best-actions/{RULE}/taken" for c in customers]
    answered = [
        agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"before-the-merge-{i}")
        for i, url in enumerate(urls)
    ]
    post(
        api, subject=PHONE, data={"channel": "sms", "text": "me", "identifiers": ["mailto:jane@example.com"]}
    )
    assert Customer.objects.filter(pk__in=customers, merged_into__isnull=False).count() == 1

    again = [
        agent_api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=f"before-the-merge-{i}")
        for i, url in enumerate(urls)
    ]

    for before, after in zip(answered, again, strict=True):
        assert before.status_code == after.status_code == 201, after.content
        assert after.json()["position"] == before.json()["position"]
    assert StoredEvent.objects.filter(type="nba.taken").count() == 2


def test_a_key_used_again_for_another_customer_is_refused_and_writes_nothing(agent_api, api):
    # The customer was left out of the comparison (for retries after a merge): the answer about the second
    # customer got the first's event back, 201, and was never recorded.
    customers = [post(api, subject=subject)["customer_id"] for subject in (PHONE, "tel:+15559990001")]
    url = "/api/v1/customers/{}/next-best-actions/" + RULE + "/taken"

    first = agent_api.post(url.format(customers[0]), {}, format="json", HTTP_IDEMPOTENCY_KEY="nba-k")
    before = log_snapshot()
    other = agent_api.post(url.format(customers[1]), {}, format="json", HTTP_IDEMPOTENCY_KEY="nba-k")

    assert first.status_code == 201 and other.status_code == 409, other.content
    assert other["Content-Type"] == "application/problem+json"
    assert "Idempotency-Key was used for another request" in other.json()["detail"]
    assert log_snapshot() == before


def test_a_callback_that_reached_them_on_a_thread_since_resolved_still_answers_an_expired_one(api):
    """The rule looked for the completed callback on the open threads' timelines only: resolving the
    thread it was on brought back "a callback expired without reaching them"."""
    from interactions.callbacks import dispatch, services
    from tests.interactions.test_callbacks import later, online_agent, request_callback

    agent = online_agent()
    post(api, data={"channel": "sms", "text": "my bill", "topic": "billing"})
    failed = request_callback(api, topic="billing", window_end=later(120).isoformat())
    dispatch.callbacks_dispatch()
    services.callback_accept(callback_id=failed["id"], actor=agent)
    assert services.callback_outcome(callback_id=failed["id"], actor=agent, outcome="busy").state == "expired"
    assert "mention-callback" in {a["id"] for a in context(api, PHONE)["next_best_actions"]}

    reached = request_callback(api, topic="cancellation")
    assert reached["thread_id"] != failed["thread_id"]
    dispatch.callbacks_dispatch()
    services.callback_accept(callback_id=reached["id"], actor=agent)
    services.callback_outcome(callback_id=reached["id"], actor=agent, outcome="completed")
    client_for(agent).post(f"/api/v1/threads/{reached['thread_id']}/resolve", {}, format="json")

    body = context(api, PHONE)
    assert reached["thread_id"] in {t["id"] for t in body["recently_resolved"]}
    assert body["callback_reached_at"] is not None
    assert "mention-callback" not in {a["id"] for a in body["next_best_actions"]}

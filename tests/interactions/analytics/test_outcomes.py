"""Outcomes: a hand-built day of sales, an upgrade, a retention, a cancellation and refunds in two currencies,
by customers of two segments and none, with a merge; every figure worked out by hand below (new business,
net new business, lifetime value), read back by group, bucket and currency, as CSV, in the context, and
refused clearly when a post or a question is wrong."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.models import StoredEvent
from hub.rebuild import rebuild
from interactions.analytics.models import CustomerValue, OutcomeHour
from interactions.catalogue.currencies import from_units, to_units
from interactions.models import Role
from tests.conftest import client_for, cloud_event
from tests.factories import ApiTokenFactory
from tests.interactions.analytics.test_surveys import ANN, BEN, by, measures
from tests.interactions.helpers import EVENTS, context, post

pytestmark = pytest.mark.django_db

OUTCOMES = "/api/v1/analytics/outcomes"
DAY = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}
CAL, DAN = "mailto:cal@example.com", "mailto:dan@example.com"
EVE = "tel:+15550000005"  # a customer with no outcome


def outcome(api, who: str, at: str, kind: str, value: str, currency: str, **data) -> dict:
    return post(
        api,
        type="outcome.recorded",
        subject=who,
        time=f"2026-11-20T{at}:00Z",
        data={"kind": kind, "value": value, "currency": currency, **data},
    )


@pytest.fixture
def day(api, supervisor_api):
    """Ann (gold) writes by SMS about broadband, her thread assigned to an agent: a sale of 100.00 EUR on it
    (no channel or agent of its own: the thread's), an upgrade of 20.50 EUR on a call by agent-7, and later
    a sale of 5.00 GBP. Ben (silver) buys for 50.00 GBP on chat, gets 12.3456 GBP back and cancels a
    contract worth 30.00 GBP. Cal (no segment) is retained for 15.00 EUR by e-mail. Dan (no segment) buys
    for 40.00 EUR by e-mail, turns out to be Ann (merged at 13:00), then gets 10.00 EUR refunded."""
    agent = ApiTokenFactory(role=Role.AGENT)
    for who, segment in ((ANN, "gold"), (BEN, "silver")):
        post(api, subject=who, type="customer.profile_updated", time="2026-11-20T08:00:00Z",
             data={"segment": segment})  # fmt: skip
    thread = post(api, subject=ANN, time="2026-11-20T09:00:00Z",
                  data={"channel": "sms", "text": "faster broadband?", "topic": "broadband"})  # fmt: skip
    assigned = supervisor_api.post(
        f"/api/v1/threads/{thread['thread_id']}/assign", {"agent_id": str(agent.pk)}, format="json"
    )
    assert assigned.status_code == 201, assigned.content
    outcome(api, ANN, "09:10", "sale", "100.00", "EUR")
    outcome(api, ANN, "09:20", "upgrade", "20.50", "EUR", channel="voice", agent_id="agent-7")
    mobile = {"channel": "chat", "topic": "mobile"}
    outcome(api, BEN, "10:05", "sale", "50", "GBP", **mobile, reference="order-1")
    outcome(api, BEN, "10:30", "refund", "12.3456", "GBP", **mobile)
    outcome(api, BEN, "11:00", "cancellation", "30.00", "GBP", **mobile)
    outcome(api, CAL, "11:15", "retention", "15", "EUR", channel="email")
    outcome(api, DAN, "12:00", "sale", "40.00", "EUR", channel="email")
    post(api, subject=ANN, time="2026-11-20T13:00:00Z",
         data={"channel": "sms", "text": "also me", "identifiers": [DAN]})  # fmt: skip  # merges them
    outcome(api, DAN, "14:00", "refund", "10.00", "EUR", channel="email", topic="billing", agent_id="agent-7")
    outcome(api, ANN, "15:00", "sale", "5.00", "GBP", channel="sms")
    post(api, subject=EVE, time="2026-11-20T16:00:00Z", data={"channel": "sms", "text": "hello"})
    return {"agent": str(agent.pk)}


def figures(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("bucket", "group", "currency")}


def test_totals_per_currency_by_hand(day, supervisor_api):
    body = measures(supervisor_api, OUTCOMES, **DAY)

    assert [(t["group"], t["currency"]) for t in body["totals"]] == [(None, "EUR"), (None, "GBP")]
    (eur,) = by(body["totals"], currency="EUR")
    # EUR: sales 100.00 (Ann) + 40.00 (Dan) = 140; upgrade 20.50; retention 15 (Cal); refund 10.00 (Dan).
    # New business = 140 + 20.50 = 160.50; net = 160.50 - 10.00 refunded - 0 cancelled = 150.50.
    assert figures(eur) == {
        "sales": 2, "sale_value": "140.0000", "upgrades": 1, "upgrade_value": "20.5000",
        "retentions": 1, "retention_value": "15.0000", "cancellations": 0, "cancellation_value": "0.0000",
        "refunds": 1, "refund_value": "10.0000", "new_business": "160.5000", "net_new_business": "150.5000",
    }  # fmt: skip
    (gbp,) = by(body["totals"], currency="GBP")
    # GBP: sales 50 (Ben) + 5.00 (Ann) = 55; refund 12.3456; cancellation 30.00.
    # New business 55; net = 55 - 12.3456 - 30 = 12.6544 (exact: no float on the way).
    assert figures(gbp) == {
        "sales": 2, "sale_value": "55.0000", "upgrades": 0, "upgrade_value": "0.0000",
        "retentions": 0, "retention_value": "0.0000", "cancellations": 1, "cancellation_value": "30.0000",
        "refunds": 1, "refund_value": "12.3456", "new_business": "55.0000", "net_new_business": "12.6544",
    }  # fmt: skip
    # One day bucket per currency, the same as the totals.
    assert [figures(r) for r in body["rows"]] == [figures(eur), figures(gbp)]
    assert [r["bucket"] for r in body["rows"]] == ["2026-11-20T00:00:00Z"] * 2


def test_new_and_net_new_business_by_segment(day, supervisor_api):
    body = measures(supervisor_api, OUTCOMES, **DAY, group_by="segment")
    net = {(t["group"], t["currency"]): (t["new_business"], t["net_new_business"]) for t in body["totals"]}
    assert net == {
        # gold EUR: Ann's sale 100 + upgrade 20.50 = 120.50; less Dan's refund of 10, given after he was
        # merged into Ann (gold) = 110.50. Dan's sale of 40 came before the merge: no segment.
        ("gold", "EUR"): ("120.5000", "110.5000"),
        ("gold", "GBP"): ("5.0000", "5.0000"),  # Ann's 5.00
        # silver GBP: Ben's sale 50; 50 - 12.3456 refunded - 30 cancelled = 7.6544.
        ("silver", "GBP"): ("50.0000", "7.6544"),
        # none: Dan's sale 40 (before the merge); Cal's retention of 15 is in neither figure.
        (None, "EUR"): ("40.0000", "40.0000"),
    }
    (none,) = by(body["totals"], group=None)
    assert none["retentions"] == 1 and none["retention_value"] == "15.0000"


def test_new_and_net_new_business_by_channel(day, supervisor_api):
    body = measures(supervisor_api, OUTCOMES, **DAY, group_by="channel")
    net = {(t["group"], t["currency"]): (t["new_business"], t["net_new_business"]) for t in body["totals"]}
    assert net == {
        # Ann's first sale names no channel: her thread's (SMS). Her 5.00 GBP says sms.
        ("sms", "EUR"): ("100.0000", "100.0000"),
        ("sms", "GBP"): ("5.0000", "5.0000"),
        ("voice", "EUR"): ("20.5000", "20.5000"),  # the upgrade on a call
        ("chat", "GBP"): ("50.0000", "7.6544"),  # Ben: 50 - 12.3456 - 30
        # e-mail: Dan's sale 40 - his refund 10 = 30; Cal's retention in neither.
        ("email", "EUR"): ("40.0000", "30.0000"),
    }


def test_the_outcomes_own_agent_wins_over_its_threads(day, supervisor_api):
    body = measures(supervisor_api, OUTCOMES, **DAY, group_by="agent", currency="EUR")
    sales = {t["group"]: (t["sales"], t["upgrades"], t["refunds"]) for t in body["totals"]}
    # Ann's sale: her thread's agent; the upgrade and Dan's refund name agent-7; Cal's retention and Dan's
    # sale were on threads nobody was assigned.
    assert sales[day["agent"]] == (1, 0, 0)
    assert sales["agent-7"] == (0, 1, 1)
    assert sales[None] == (1, 0, 0)


def test_hourly_buckets_and_the_currency_filter(day, supervisor_api):
    body = measures(supervisor_api, OUTCOMES, **DAY, granularity="hour", currency="GBP")
    assert {t["currency"] for t in body["totals"]} == {"GBP"}
    hours = {
        r["bucket"]: (r["sales"], r["refunds"], r["cancellations"], r["net_new_business"])
        for r in body["rows"]
    }
    assert hours == {
        "2026-11-20T10:00:00Z": (1, 1, 0, "37.6544"),  # Ben: 50 - 12.3456
        "2026-11-20T11:00:00Z": (0, 0, 1, "-30.0000"),  # Ben cancels 30: net new business goes below zero
        "2026-11-20T15:00:00Z": (1, 0, 0, "5.0000"),  # Ann's 5.00
    }


def test_outcomes_as_csv(day, supervisor_api):
    response = supervisor_api.get(OUTCOMES, {**DAY, "group_by": "segment", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(lines[0])[:4] == ["bucket", "group", "currency", "sales"]
    (silver,) = [row for row in lines if row["bucket"] == "total" and row["group"] == "silver"]
    assert (silver["currency"], silver["refund_value"], silver["net_new_business"]) == (
        "GBP",
        "12.3456",
        "7.6544",
    )


def test_a_value_below_zero_is_a_number_in_csv_and_a_group_like_a_formula_is_text(day, api, supervisor_api):
    outcome(api, EVE, "16:30", "refund", "2.50", "EUR", channel="sms", topic="-2+3")
    response = supervisor_api.get(OUTCOMES, {**DAY, "group_by": "topic", "format": "csv"})
    assert response.status_code == 200
    totals = {row["group"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))
              if row["bucket"] == "total"}  # fmt: skip
    # Dan's refund of 10.00 EUR on billing: net new business -10, written as a number a spreadsheet sums.
    assert (totals["billing"]["refund_value"], totals["billing"]["net_new_business"]) == (
        "10.0000",
        "-10.0000",
    )
    # A topic someone posted that a spreadsheet would run: written with a leading apostrophe, its value not.
    assert (totals["'-2+3"]["refund_value"], totals["'-2+3"]["net_new_business"]) == ("2.5000", "-2.5000")


def test_lifetime_value_in_the_context(day, api):
    ann = context(api, ANN)["lifetime_value"]
    # Ann, with Dan merged into her: EUR 100 sale + 20.50 upgrade + 40 (Dan's sale) - 10 (Dan's refund)
    # = 150.50; GBP 5.00. By currency code.
    assert ann == [{"currency": "EUR", "value": "150.5000"}, {"currency": "GBP", "value": "5.0000"}]
    assert context(api, DAN)["lifetime_value"] == ann  # Dan's identifier answers with the survivor
    # Ben: 50 - 12.3456 refunded = 37.6544; a cancellation takes back nothing he paid.
    assert context(api, BEN)["lifetime_value"] == [{"currency": "GBP", "value": "37.6544"}]
    # Cal: a retention keeps a contract: its 15 counts.
    assert context(api, CAL)["lifetime_value"] == [{"currency": "EUR", "value": "15.0000"}]
    assert context(api, EVE)["lifetime_value"] == []


def test_a_merged_customers_value_moves_to_the_survivor(day, api):
    survivor = context(api, ANN)["customer"]["id"]
    merged = StoredEvent.objects.get(type="customer.merged").data["merged_id"]
    rows = {
        (str(r.customer_id), r.currency): (r.value, r.outcomes)
        for r in CustomerValue.objects.filter(customer_id__in=[survivor, merged])
    }
    # The survivor's EUR: 1,505,000 ten-thousandths (150.50) from 4 outcomes (Ann's 2, Dan's sale, the
    # refund posted after the merge); the merged customer's row is left at zero.
    assert rows[(survivor, "EUR")] == (1_505_000, 4)
    assert [v for (c, _), v in rows.items() if c == merged] == [(0, 0)]


def test_only_supervisors_and_admins_read_outcomes():
    for role in (Role.AGENT, Role.INTEGRATION):
        token = ApiTokenFactory(role=role, source_prefix="/x/" if role == Role.INTEGRATION else "")
        response = client_for(token).get(OUTCOMES)
        assert response.status_code == 403
        assert "experience measures" in response.json()["detail"]
    assert client_for(ApiTokenFactory(role=Role.ADMIN)).get(OUTCOMES).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"currency": "eur"}, "currency"),
        ({"currency": "HRK"}, "currency"),  # withdrawn in 2023
        ({"currency": "EURO"}, "currency"),
        ({"group_by": "kind"}, "group_by"),
        ({"granularity": "month"}, "granularity"),
        ({"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "from"),
    ],
)
def test_a_wrong_question_is_a_problem_naming_the_field(supervisor_api, query, field):
    response = supervisor_api.get(OUTCOMES, {**query, "format": "csv"})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"value": 19.99}, "data.value"),  # a JSON number: a float cannot hold 19.99
        ({"value": 20}, "data.value"),
        ({"value": "-5.00"}, "data.value"),
        ({"value": "1.23456"}, "data.value"),  # five decimals
        ({"value": "1000000000"}, "data.value"),  # a thousand million
        ({"value": "1e3"}, "data.value"),
        ({"value": "1,50"}, "data.value"),
        ({"value": "NaN"}, "data.value"),
        ({"value": "١٢"}, "data.value"),  # Arabic-Indic digits: Decimal would read them
        ({"currency": "eur"}, "data.currency"),
        ({"currency": "XXX"}, "data.currency"),  # "no currency"
        ({"currency": "ZZZ"}, "data.currency"),
        ({"kind": "gift"}, "data.kind"),
        ({"kind": None}, "data.kind"),
        ({"channel": "fax"}, "data.channel"),
        ({"reference": ""}, "data.reference"),
    ],
)
def test_a_bad_outcome_is_refused_naming_the_field_and_nothing_is_written(api, data, field):
    before = StoredEvent.objects.count()
    body = {"kind": "sale", "value": "1.00", "currency": "EUR", **data}
    event = cloud_event(type="outcome.recorded", data={k: v for k, v in body.items() if v is not None})
    response = api.generic("POST", EVENTS, json.dumps(event), content_type="application/cloudevents+json")
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert StoredEvent.objects.count() == before
    assert not OutcomeHour.objects.exists()


def test_the_largest_and_the_most_precise_values_are_kept_exactly(api, supervisor_api):
    outcome(api, ANN, "09:00", "sale", "999999999.9999", "KWD")
    outcome(api, ANN, "09:30", "sale", "0.0001", "KWD")
    (total,) = measures(supervisor_api, OUTCOMES, **DAY)["totals"]
    # 999,999,999.9999 + 0.0001 = 1,000,000,000.0000: no float could say both.
    assert (total["currency"], total["sale_value"]) == ("KWD", "1000000000.0000")
    assert context(api, ANN)["lifetime_value"] == [{"currency": "KWD", "value": "1000000000.0000"}]


def test_a_merge_brings_the_survivor_a_currency_it_had_none_of(api):
    """Whichever of the two survives, the other's currency is new to it: its row is added, then filled."""
    outcome(api, "tel:+15550000011", "09:00", "sale", "7.25", "USD")
    outcome(api, "mailto:fay@example.com", "09:30", "sale", "3", "CHF")
    outcome(api, "mailto:fay@example.com", "09:40", "refund", "1.10", "CHF")
    post(api, subject="tel:+15550000011", time="2026-11-20T10:00:00Z",
         data={"channel": "sms", "text": "me", "identifiers": ["mailto:fay@example.com"]})  # fmt: skip
    before = list(CustomerValue.objects.order_by("pk").values())

    # CHF: 3 - 1.10 = 1.90; USD: 7.25. Both for the one customer, read by either identifier.
    value = [{"currency": "CHF", "value": "1.9000"}, {"currency": "USD", "value": "7.2500"}]
    assert context(api, "tel:+15550000011")["lifetime_value"] == value
    assert context(api, "mailto:fay@example.com")["lifetime_value"] == value
    rebuild()
    assert list(CustomerValue.objects.order_by("pk").values()) == before


def test_an_outcome_is_on_its_threads_timeline_with_what_it_was(day, api):
    # Ben never wrote: an outcome is no activity, so (like a survey answer) each opened a thread of its own.
    threads = context(api, BEN)["open_threads"]
    entries = [e for t in threads for e in t["recent"] if e["type"] == "outcome.recorded"]
    entries.sort(key=lambda e: e["position"])
    assert [(e["channel"], e["details"]) for e in entries] == [
        ("chat", {"kind": "sale", "value": "50", "currency": "GBP", "reference": "order-1"}),
        ("chat", {"kind": "refund", "value": "12.3456", "currency": "GBP"}),
        ("chat", {"kind": "cancellation", "value": "30.00", "currency": "GBP"}),
    ]


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_a_value_is_written_as_decimal_writes_it(units):
    # What the sums of values read back as: the exact decimal of `units` ten-thousandths, with four decimals.
    assert from_units(units) == str((Decimal(units) / 10_000).quantize(Decimal("0.0001")))
    assert to_units(from_units(units)) == units


def test_values_by_hand():
    assert [from_units(u) for u in (0, 1, -1, 5_0000, -30_0000, 12_3456, -9999)] == [
        "0.0000", "0.0001", "-0.0001", "5.0000", "-30.0000", "12.3456", "-0.9999",
    ]  # fmt: skip

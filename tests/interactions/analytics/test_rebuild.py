"""The measures' read models are a projection of the log: rebuilt from position 0 they equal what was built
event by event, also in pages small enough that rows leave memory between them, and across a merge."""

from __future__ import annotations

import pytest

from hub.rebuild import rebuild
from interactions.analytics.models import (
    CallbackHour,
    CustomerFacts,
    CustomerTopic,
    CustomerValue,
    EffortHour,
    HandlingHour,
    OutcomeHour,
    StepHour,
    SurveyRollup,
    ThreadFacts,
    TransitionHour,
)
from interactions.models import Role
from tests.factories import ApiTokenFactory
from tests.interactions.analytics.test_effort import efforts  # noqa: F401 (a fixture)
from tests.interactions.analytics.test_handling import day  # noqa: F401 (a fixture)
from tests.interactions.analytics.test_journeys import clock, journeys  # noqa: F401 (fixtures)
from tests.interactions.analytics.test_outcomes import day as outcomes_day  # noqa: F401 (a fixture)
from tests.interactions.analytics.test_repeats_and_callbacks import callback_calls, comebacks  # noqa: F401
from tests.interactions.analytics.test_surveys import ANN, BEN, survey
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
MAIL = "mailto:ann@example.com"


def state() -> dict[str, list[dict]]:
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            CustomerFacts,
            ThreadFacts,
            SurveyRollup,
            HandlingHour,
            EffortHour,
            StepHour,
            TransitionHour,
            CustomerTopic,
            CallbackHour,
            OutcomeHour,
            CustomerValue,
        )
    }


def history(api, supervisor_api) -> None:
    post(
        api,
        subject=ANN,
        type="customer.profile_updated",
        time="2026-11-20T08:00:00Z",
        data={"segment": "gold"},
    )
    thread = post(
        api, subject=ANN, time="2026-11-20T09:00:00Z", data={"channel": "sms", "text": "hi", "topic": "fault"}
    )
    agent = ApiTokenFactory(role=Role.AGENT)
    supervisor_api.post(
        f"/api/v1/threads/{thread['thread_id']}/assign", {"agent_id": str(agent.pk)}, format="json"
    )
    survey(api, ANN, "2026-11-20T09:30:00Z", "csat", 2)
    survey(api, MAIL, "2026-11-20T09:40:00Z", "nps", 9, channel="email")  # a second customer, no segment
    post(api, subject=ANN, time="2026-11-20T10:00:00Z",
         data={"channel": "sms", "text": "me", "identifiers": [MAIL]})  # fmt: skip  # merges them
    survey(api, MAIL, "2026-11-20T10:30:00Z", "nps", 4, channel="email")  # now gold: the survivor's
    survey(api, BEN, "2026-11-20T10:31:00Z", "csat", 2, channel="chat")
    survey(
        api, ANN, "2026-11-20T09:35:00Z", "csat", 2
    )  # the same hour and dimensions as the first: 2 answers


def test_rebuild_equals_incremental(api, supervisor_api):
    history(api, supervisor_api)
    before = state()
    nines = [r["score_9"] for r in before["SurveyRollup"] if r["metric"] == "nps" and r["score_9"]]
    assert nines == [1] * 10  # Mail's one NPS 9: its hour and its day, over all answers and by each dimension
    # The day's CSAT over all answers: Ann's 2 at 09:30 and 09:35 and Ben's 2 at 10:31: three 2s.
    (csat,) = [r for r in before["SurveyRollup"] if r["period"] == "day" and r["dimension"] == ""
               and r["metric"] == "csat"]  # fmt: skip
    assert (csat["score_2"], sum(csat[f"score_{n}"] for n in range(11))) == (3, 3)
    gold = [r for r in before["SurveyRollup"] if r["dimension"] == "segment" and r["value"] == "gold"]
    # Gold's: Ann's two CSAT 2s at 09:00 and the NPS 4 (10:30) once Mail was merged into her.
    assert sorted((r["period"], r["start"].hour, r["metric"], r["score_2"], r["score_4"]) for r in gold) == [
        ("day", 0, "csat", 2, 0), ("day", 0, "nps", 0, 1),
        ("hour", 9, "csat", 2, 0), ("hour", 10, "nps", 0, 1),
    ]  # fmt: skip

    rebuild()

    assert state() == before


@pytest.mark.parametrize("keep", [1, 50_000])
def test_rebuild_in_small_pages_equals_incremental(api, supervisor_api, monkeypatch, keep):
    history(api, supervisor_api)
    before = state()
    monkeypatch.setattr("hub.rebuild.PAGE", 2)
    monkeypatch.setattr("hub.rows.REPLAY_KEEP", keep)

    rebuild()

    assert state() == before


def _outcomes_counted(before: dict) -> bool:
    # 9 outcomes were counted. Lifetime value rows: Ann's EUR (her 2, Dan's sale and his later refund: 4) and
    # GBP (1), Ben's GBP (sale, refund, cancellation: 3), Cal's EUR (1), and Dan's EUR left at zero.
    kinds = ("sales", "upgrades", "retentions", "cancellations", "refunds")
    return sum(r[k] for r in before["OutcomeHour"] for k in kinds) == 9 and sorted(
        r["outcomes"] for r in before["CustomerValue"]
    ) == [0, 1, 1, 3, 4]


def _of(rows: list[dict], period: str) -> list[dict]:
    return [row for row in rows if row["period"] == period]


# A hand-built history of each measure (a fixture) -> what its rows must hold before the rebuild, so that the
# comparison is of rows that say something.
HISTORIES = {
    "day": lambda before: sum(r["resolutions"] for r in before["HandlingHour"]) == 3,
    "efforts": lambda before: sorted(r["pairs"] for r in before["EffortHour"]) == [1, 1, 1],
    "journeys": lambda before: (
        all(
            sum(r["entries"] for r in _of(before["StepHour"], period)) == 6
            and sum(r["transitions"] for r in _of(before["TransitionHour"], period)) == 6
            and sum(
                r["idled"] + r["unanswered"] + r["abandoned"] + r["bounced"]
                for r in _of(before["StepHour"], period)
            )
            == 5
            for period in ("hour", "day")
        )
        and len(_of(before["TransitionHour"], "hour")) == 6
    ),
    "comebacks": lambda before: (
        sum(r["repeat_contacts"] for r in before["HandlingHour"]) == 2 and len(before["CustomerTopic"]) == 3
    ),
    "callback_calls": lambda before: (
        sorted((r["attempt"], r["completed"]) for r in before["CallbackHour"]) == [(1, 1), (2, 1), (3, 1)]
    ),
    # Across a merge too: the merged customer's lifetime value moves to the survivor whether its rows are in
    # memory (kept between pages) or were written back (evicted after each page).
    "outcomes_day": _outcomes_counted,
}


@pytest.mark.parametrize("history_of", list(HISTORIES))
@pytest.mark.parametrize(("page", "keep"), [(2, 1), (3, 50_000), (1000, 1)])
def test_rebuild_of_each_measure_equals_incremental(request, monkeypatch, history_of, page, keep):
    request.getfixturevalue(history_of)
    before = state()
    assert HISTORIES[history_of](before)
    monkeypatch.setattr("hub.rebuild.PAGE", page)
    monkeypatch.setattr("hub.rows.REPLAY_KEEP", keep)

    rebuild()

    assert state() == before

"""First-contact resolution: five threads resolved after one contact or two, one reopened, one followed by a
new thread on its topic inside the window and one outside it, worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from tests.interactions.analytics.test_surveys import measures
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
HANDLING = "/api/v1/analytics/handling"
NOVEMBER = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
DAN, EVE, FAY, GUS, HAL = (f"tel:+1555123{n:04d}" for n in range(20, 25))


def at(day: int, hh_mm: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hh_mm}:00+00:00")


def z(day: int, hh_mm: str = "10:00") -> str:
    return f"2026-11-{day:02d}T{hh_mm}:00Z"


@pytest.fixture
def resolved(api, supervisor_api, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: at(30, "23:00"))

    def command(day: int, thread: str, verb: str) -> None:
        monkeypatch.setattr(timezone, "now", lambda: at(day, "12:00"))
        assert supervisor_api.post(f"/api/v1/threads/{thread}/{verb}").status_code == 201
        monkeypatch.setattr(timezone, "now", lambda: at(30, "23:00"))

    def thread(who: str, day: int, topic: str) -> str:
        return post(api, subject=who, time=z(day), data={"channel": "sms", "text": "hi", "topic": topic})[
            "thread_id"
        ]

    dan = thread(DAN, 20, "billing")  # one contact, resolved: first-contact resolution
    command(20, dan, "resolve")
    thread(DAN, 22, "moving")  # another topic: revokes nothing

    eve = thread(EVE, 20, "fault")  # reopened three days later: revoked
    command(20, eve, "resolve")
    command(23, eve, "reopen")

    fay = thread(
        FAY, 20, "moving"
    )  # a new thread on its topic four days later (past the 72 h window): revoked
    command(20, fay, "resolve")
    assert thread(FAY, 24, "moving") != fay

    gus = thread(GUS, 10, "moving")  # a new thread on its topic nine days later, past the 7 days: stands
    command(10, gus, "resolve")
    assert thread(GUS, 19, "moving") != gus

    hal = thread(HAL, 20, "fault")  # two contacts before the resolution: not at first contact
    post(api, subject=HAL, time=z(20, "10:30"), data={"channel": "sms", "text": "still?"})
    command(20, hal, "resolve")


@pytest.mark.usefixtures("resolved")
def test_first_contact_resolution_by_hand(supervisor_api):
    (total,) = measures(supervisor_api, path=HANDLING, **NOVEMBER)["totals"]
    # Five first resolutions (Dan, Eve, Fay, Gus, Hal); Dan's and Gus's stand: 2 of 5.
    assert (total["resolutions"], total["first_contact_resolutions"], total["fcr_rate"]) == (5, 2, 0.4)
    days = {
        r["bucket"][:10]: r["first_contact_resolutions"]
        for r in measures(supervisor_api, path=HANDLING, **NOVEMBER)["rows"]
    }
    assert days["2026-11-10"] == 1 and days["2026-11-20"] == 1  # counted on the day of the resolution


@pytest.mark.usefixtures("resolved")
def test_the_window_is_a_setting(api, supervisor_api, settings):
    from hub.rebuild import rebuild

    settings.THREADLINE_FCR_DAYS = (
        10  # Gus's new thread, nine days after, now revokes his too (after a rebuild)
    )
    rebuild()
    (total,) = measures(supervisor_api, path=HANDLING, **NOVEMBER)["totals"]
    assert (total["first_contact_resolutions"], total["fcr_rate"]) == (1, 0.2)

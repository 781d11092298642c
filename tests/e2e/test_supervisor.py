"""The supervisor page in headless Chromium (Playwright driving Debian's chromium) against a real uvicorn,
Celery worker and beat and a subscription runner on loopback, DEBUG off, its chart library served by the hub.

On answers posted over REST, the page shows the period's NPS, CSAT and CES worked out by hand here, draws
them in its charts and its table by channel, in the browser's time zone (one half an hour off UTC too), its
handling and effort, and the net new business of its outcomes by channel and segment; the follow-ups the bad
answers opened, oldest first, counting down; a new bottom-box answer joins the queue live and a closed
follow-up leaves it, and a new answer is counted when the period is read again, all with no reload. An
unknown browser zone falls back to UTC. An agent is refused the page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interactions.models import Role
from interactions.people.services import person_create
from tests.e2e import servers
from tests.e2e.test_desk import CHROMIUM, PASSWORD, SCREENSHOTS, browser, hub, post_events, sign_in
from tests.factories import ApiTokenFactory

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"),
]


def answer(n: int, at: datetime, channel: str, metric: str, score: int) -> dict:
    return {
        "specversion": "1.0",
        "id": f"survey-{n}",
        "source": "/gateway/surveys",
        "type": "survey.answered",
        "subject": f"tel:+1555123{n:04d}",
        "time": at.isoformat(),
        "data": {"channel": channel, "metric": metric, "score": score},
    }


def outcome(n: int, at: datetime, channel: str, kind: str, value: str, currency: str) -> dict:
    return {
        "specversion": "1.0",
        "id": f"outcome-{n}",
        "source": "/gateway/crm",
        "type": "outcome.recorded",
        "subject": f"tel:+1555999{n:04d}",
        "time": at.isoformat(),
        "data": {"channel": channel, "kind": kind, "value": value, "currency": currency},
    }


def caught_up(base: str, supervisor, position: int) -> None:
    """Wait (read your writes) until the runner has applied the answers to the measures."""
    status, body = servers.request(
        f"{base}/api/v1/analytics/surveys?min_position={position}",
        headers={"Authorization": f"Bearer {supervisor.raw}"},
    )
    assert status == 200, body


def chart_data(page, canvas: str) -> list:
    return page.evaluate(f"window.Chart.getChart('{canvas}').data.datasets.map((d) => d.data)")


def test_a_supervisor_sees_the_figures_of_the_period_drawn_and_a_new_answer_without_a_reload(tmp_path):
    person_create(username="sam", role=Role.SUPERVISOR, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    at = datetime.now(UTC) - timedelta(hours=2)
    with hub(tmp_path, runner=True) as base, browser() as context:
        posted = post_events(
            base,
            gateway,
            [
                answer(1, at, "sms", "csat", 5),
                answer(2, at, "sms", "csat", 4),
                answer(3, at, "email", "csat", 1),
                answer(4, at, "chat", "csat", 2),
                answer(5, at, "sms", "nps", 10),
                answer(6, at, "sms", "nps", 9),
                answer(7, at, "sms", "nps", 3),
                answer(8, at, "sms", "ces", 6),
                # Outcomes: customer 1 (gold) buys for 100.00 EUR by SMS and gets 25.50 back; customer 2
                # buys for 40 GBP on chat; customer 3 cancels a contract of 10 EUR by e-mail.
                {
                    **outcome(1, at, "sms", "sale", "0", "EUR"),
                    "id": "crm-1",
                    "type": "customer.profile_updated",
                    "data": {"segment": "gold"},
                },  # customer 1's segment, from the CRM
                outcome(1, at, "sms", "sale", "100.00", "EUR"),
                {**outcome(1, at, "sms", "refund", "25.50", "EUR"), "id": "outcome-1b"},
                outcome(2, at, "chat", "sale", "40", "GBP"),
                outcome(3, at, "email", "cancellation", "10", "EUR"),
                {
                    **answer(10, at, "voice", "csat", 3),
                    "id": "call-1",
                    "type": "call.ended",
                    "data": {"direction": "inbound", "conversation_ref": "c1", "duration_seconds": 545},
                },
            ],
        )
        # The call's thread resolved now, two hours after it opened: a resolution and an effort taken.
        status, resolved = servers.request(
            f"{base}/api/v1/threads/{posted[-1]['thread_id']}/resolve",
            data=b"{}",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {supervisor.raw}"},
        )
        assert status == 201, resolved
        caught_up(base, supervisor, resolved["position"])
        page = context.new_page()
        sign_in(page, base, "sam")
        page.goto(f"{base}/supervisor/")

        # CSAT 5, 4, 1, 2: mean 12/4 = 3.00, two of four 4-5 and two of four 1-2. NPS 10, 9, 3: promoters
        # two of three, detractors one of three: 100 x (2 - 1) / 3 = +33.33. CES 6: mean 6.00.
        expect(page.locator("#updated")).to_have_text(re.compile("^Updated"))
        expect(page.locator("#csat-value")).to_have_text("3.00 / 5")
        expect(page.locator("#csat-detail")).to_have_text("4 answers: 50.0% rated 4-5, 50.0% rated 1-2")
        expect(page.locator("#nps-value")).to_have_text("+33.33")
        expect(page.locator("#nps-detail")).to_have_text(
            "3 answers: 66.7% promoters, 0.0% passives, 33.3% detractors"
        )
        expect(page.locator("#ces-value")).to_have_text("6.00 / 7")
        # No inbound contact on it (only the call's end was posted), no transfer, no wait: index 0.
        expect(page.locator("#effort-value")).to_have_text("0.0 / 100")
        expect(page.locator("#effort-detail")).to_have_text(
            "1 thread resolved: 0.0 contacts, 0.0 channel switches each; too few CES answers to compare"
        )
        rows = page.locator("#channels tbody tr")
        expect(rows).to_have_text(
            [
                re.compile(r"chat\s*1\s*2\.00\s*100\.0%\s*0\s*\u2013"),
                re.compile(r"email\s*1\s*1\.00\s*100\.0%\s*0\s*\u2013"),
                re.compile(r"sms\s*2\s*4\.50\s*0\.0%\s*3\s*33\.33"),
            ]
        )
        # The charts hold the same figures: NPS and the CSAT 4-5 share of the day; the 1-2 share of the hour.
        nps_by_day, top2_by_day = chart_data(page, "trend")
        assert len(nps_by_day) in (7, 8)  # the days the last 7 x 24 hours touch, in the browser's zone
        assert [v for v in nps_by_day if v is not None] == [33.33]
        assert [v for v in top2_by_day if v is not None] == [50]
        (bottom_by_hour,) = chart_data(page, "bottom-box")
        assert len(bottom_by_hour) == 48 and [v for v in bottom_by_hour if v is not None] == [50]
        assert bottom_by_hour[-3] == 50  # two hours ago, in the last 48 hours up to the end of this one
        # Survey reads asked in pages of one bucket (each read's `limit` set to 1 on its way): the page reads
        # every page by the cursor of the one before and shows the same figures and charts.
        cursors = []

        def one_bucket(route) -> None:
            url = route.request.url
            cursors.extend(re.findall(r"[?&]cursor=([^&]+)", url))
            route.continue_(url=url if "limit=" in url else f"{url}&limit=1")

        paged = context.new_page()
        paged.route(re.compile(r".*/api/v1/analytics/surveys\?.*"), one_bucket)
        paged.goto(f"{base}/supervisor/")
        expect(paged.locator("#updated")).to_have_text(re.compile("^Updated"))
        expect(paged.locator("#csat-value")).to_have_text("3.00 / 5")
        expect(paged.locator("#nps-value")).to_have_text("+33.33")
        expect(paged.locator("#channels tbody tr")).to_have_count(3)
        assert chart_data(paged, "trend") == [nps_by_day, top2_by_day]
        assert chart_data(paged, "bottom-box") == [bottom_by_hour]
        assert len(cursors) >= 47 + 6  # the 48 hours' pages after the first, and the period's days'
        paged.close()
        # One call of 545 s (9:05), ended two hours ago, its thread resolved about two hours after it opened.
        expect(page.locator("#handling tbody tr")).to_have_text(
            [
                re.compile(
                    r"voice\s*1\s*9:05\s*0\s*\u2013\s*1\s*(1:59:[0-5]\d|2:0\d:[0-5]\d)\s*\u2013\s*0"
                    r"\s*0\.0% of 1"
                )
            ]
        )
        # Net new business = sales + upgrades - refunds - cancellations, per currency. By channel: chat
        # 40 GBP; e-mail 0 - 10 = -10 EUR; SMS 100.00 - 25.50 = 74.50 EUR. By segment: gold 74.50 EUR; not
        # known: -10 EUR and 40 GBP (totals are ordered by group, not known first, then currency).
        expect(page.locator("#outcomes-channels tbody tr")).to_have_text(
            [
                re.compile(r"chat\s*GBP\s*1\s*40\.00 GBP\s*0\.00 GBP\s*0\.00 GBP\s*40\.00 GBP\s*0\.00 GBP"),
                re.compile(r"email\s*EUR\s*0\s*0\.00 EUR\s*0\.00 EUR\s*10\.00 EUR\s*-10\.00 EUR"),
                re.compile(r"sms\s*EUR\s*1\s*100\.00 EUR\s*25\.50 EUR\s*0\.00 EUR\s*74\.50 EUR"),
            ]
        )
        expect(page.locator("#outcomes-segments tbody tr")).to_have_text(
            [
                re.compile(r"not known\s*EUR\s*0\s*0\.00 EUR\s*0\.00 EUR\s*10\.00 EUR\s*-10\.00 EUR"),
                re.compile(r"not known\s*GBP\s*1\s*40\.00 GBP\s*0\.00 GBP\s*0\.00 GBP\s*40\.00 GBP"),
                re.compile(r"gold\s*EUR\s*1\s*100\.00 EUR\s*25\.50 EUR\s*0\.00 EUR\s*74\.50 EUR"),
            ]
        )
        # The chart: a bar per channel (chat, email, sms) for each currency, EUR first.
        assert chart_data(page, "outcomes-chart") == [[None, -10, 74.5], [40, None, None]]
        csv_link = page.locator("#csv").get_attribute("href")
        assert "format=csv" in csv_link and "group_by=channel" in csv_link
        # In a zone half an hour off UTC, the hourly chart still puts the answers' hour where it is.
        kolkata = context.browser.new_context(timezone_id="Asia/Kolkata")
        there = kolkata.new_page()
        there.goto(f"{base}/supervisor/")  # the same session cookie is not shared: sign in there too
        sign_in(there, base, "sam")
        there.goto(f"{base}/supervisor/")
        expect(there.locator("#zone")).to_have_text(
            re.compile(r"^Times in Asia/(Kolkata|Calcutta)$")
        )  # ICU says Calcutta
        expect(there.locator("#csat-value")).to_have_text("3.00 / 5")
        (there_by_hour,) = chart_data(there, "bottom-box")
        assert len(there_by_hour) == 48 and there_by_hour[-3] == 50
        kolkata.close()
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "supervisor.png"), full_page=True)

        # The follow-up queue: the CSAT 1 and 2 and the NPS 3 opened one each, due an hour after they arrived.
        queue = page.locator("#followups tbody tr")
        expect(page.locator("#followups-live")).to_have_text("live")
        expect(queue).to_have_count(3)
        expect(queue.locator("td:nth-child(2)")).to_have_text(
            ["CSAT 1", "CSAT 2", "NPS 3"], ignore_case=False
        )
        expect(queue.first.locator("td:nth-child(4)")).to_have_text(re.compile(r"^(59|60):\d\d$"))
        # A new bottom-box answer posted over REST joins the queue live, with its comment, and the time left
        # of each counts down; one closed over REST leaves it. No reload.
        before = queue.first.locator("td:nth-child(4)").text_content()
        post_events(base, gateway, [{**answer(11, at, "sms", "csat", 1), "data": {
            "channel": "sms", "metric": "csat", "score": 1, "comment": "Still no refund"}}])  # fmt: skip
        expect(queue).to_have_count(4)
        expect(queue.last.locator("td:nth-child(3)")).to_have_text("Still no refund")
        expect(queue.first.locator("td:nth-child(4)")).not_to_have_text(before)
        status, listed = servers.request(
            f"{base}/api/v1/followups?state=open", headers={"Authorization": f"Bearer {supervisor.raw}"}
        )
        assert status == 200 and listed["count"] == 4
        detractor = next(f["id"] for f in listed["results"] if f["metric"] == "nps")
        status, closed = servers.request(
            f"{base}/api/v1/followups/{detractor}/close",
            data=b'{"action": "called_back"}',
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {supervisor.raw}"},
        )
        assert status == 201, closed
        expect(queue).to_have_count(3)
        expect(queue.locator("td:nth-child(2)")).to_have_text(["CSAT 1", "CSAT 2", "CSAT 1"])

        # A new answer, then the period read again (another period chosen): it is counted, no reload.
        more = post_events(base, gateway, [answer(9, at, "sms", "nps", 0)])
        caught_up(base, supervisor, more[0]["position"])
        page.get_by_label("Period", exact=True).select_option("30/day")
        # NPS 10, 9, 3, 0: 100 x (2 - 2) / 4 = 0.
        expect(page.locator("#nps-value")).to_have_text("0")
        expect(page.locator("#nps-detail")).to_contain_text("4 answers")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def contact(n: int, at: datetime, phone: str, kind: str, **data) -> dict:
    return {
        "specversion": "1.0",
        "id": f"journey-{n}",
        "source": "/gateway/journeys",
        "type": kind,
        "subject": f"tel:{phone}",
        "time": at.isoformat(),
        "data": data,
    }


def test_a_supervisor_sees_the_journeys_their_dead_ends_and_choke_points_by_objective(tmp_path):
    """Ann chats with the bot about billing and calls ten minutes later (her self-service bounced; the call,
    transferred once, answers her after 10:00); Ben texts about a delivery and is answered 90 minutes later
    (past the 60-minute SLA); Cal calls about a delivery and hangs up before anyone answers."""
    person_create(username="sam", role=Role.SUPERVISOR, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    minutes = lambda m: t0 + timedelta(minutes=m)  # noqa: E731
    ann, ben, cal = "+15557770001", "+15557770002", "+15557770003"
    call = {"direction": "inbound", "conversation_ref": "ann-call"}
    with hub(tmp_path, runner=True) as base, browser() as context:
        posted = post_events(base, gateway, [
            contact(1, minutes(0), ann, "message.received", channel="chat", text="bill?", topic="billing",
                    self_service=True),
            contact(2, minutes(10), ann, "call.started", **call),
            contact(3, minutes(12), ann, "call.transferred", **call, to_queue="billing"),
            contact(4, minutes(20), ann, "call.ended", **call, duration_seconds=600, disposition="completed"),
            contact(5, minutes(30), ben, "message.received", channel="sms", text="parcel?", topic="delivery"),
            contact(6, minutes(120), ben, "message.sent", channel="sms", text="On its way"),
            contact(7, minutes(60), cal, "call.ended", direction="inbound", conversation_ref="cal-call",
                    duration_seconds=0, disposition="no-answer", topic="delivery"),
        ])  # fmt: skip
        caught_up(base, supervisor, max(p["position"] for p in posted))
        page = context.new_page()
        sign_in(page, base, "sam")
        page.goto(f"{base}/supervisor/")
        expect(page.locator("#updated")).to_have_text(re.compile("^Updated"))

        # Every journey starts somewhere; Ann went from the bot to the phone after 10 minutes: one gap in the
        # bin [600, 900) s reads its middle, 750 s (12:30).
        matrix = page.locator("#transitions")
        expect(matrix.locator("thead th")).to_have_text(["From ↓ to →", "chat:self-service", "sms", "voice"])
        expect(matrix.locator("tbody th")).to_have_text(["start", "chat:self-service"])
        expect(matrix.locator('td[data-from="start"][data-to="voice"] .count')).to_have_text("1")
        expect(matrix.locator('td[data-from="chat:self-service"][data-to="voice"]')).to_have_text("112:30")
        expect(matrix.locator('td[data-from="chat:self-service"][data-to="sms"]')).to_have_text("")
        # Visits, mean wait, transfers, unanswered, abandoned, idle unresolved, bounced.
        expect(page.locator("#steps tbody tr")).to_have_text([
            re.compile(r"chat:self-service\s*1\s*10:00\s*0\s*0\s*0\s*0\s*1 \(100\.0%\)"),
            re.compile(r"sms\s*1\s*1:30:00\s*0\s*1\s*0\s*0\s*\u2013"),
            re.compile(r"voice\s*2\s*\u2013\s*1\s*0\s*1\s*0\s*\u2013"),
        ])  # fmt: skip
        expect(page.locator("#choke-points li")).to_have_text([
            "sms: customers waited 1:30:00 on average for an answer",
            "chat:self-service: customers waited 10:00 on average for an answer",
            "voice: 1 transfer",
        ])  # fmt: skip
        unanswered, abandoned, idled = chart_data(page, "dead-ends")
        assert (unanswered, abandoned, idled) == ([0, 1, 0], [0, 0, 1], [0, 0, 0])
        if SCREENSHOTS:
            page.locator("#journeys").screenshot(path=str(Path(SCREENSHOTS) / "supervisor-journeys.png"))

        # One objective: delivery's journeys only (Ben's text, Cal's missed call).
        page.get_by_label("Objective").select_option("delivery")
        expect(matrix.locator("thead th")).to_have_text(["From ↓ to →", "sms", "voice"])
        expect(page.locator("#steps tbody tr th")).to_have_text(["sms", "voice"])
        expect(page.locator("#choke-points li")).to_have_text(
            ["sms: customers waited 1:30:00 on average for an answer"]
        )
        csv_link = page.locator("#journeys-csv").get_attribute("href")
        assert csv_link.startswith("/api/v1/analytics/journeys?") and "format=csv" in csv_link


def test_the_supervisor_page_is_refused_to_an_agent_and_asks_a_stranger_to_sign_in(tmp_path):
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    with hub(tmp_path) as base, browser() as context:
        page = context.new_page()
        page.goto(f"{base}/supervisor/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/supervisor/$"))
        sign_in(page, base, "ann")
        response = page.goto(f"{base}/supervisor/")
        assert response.status == 403
        expect(page.get_by_role("alert")).to_have_text(
            "The supervisor page is for supervisors and admins. Your desk is at /desk/."
        )
        # Nor do the measures answer her session.
        answer_ = page.evaluate(
            "fetch('/api/v1/analytics/surveys', {credentials: 'same-origin'})"
            ".then(async (r) => [r.status, (await r.json()).detail])"
        )
        assert answer_ == [403, "an agent token may not read experience measures (supervisors and admins do)"]


def test_a_browser_zone_the_hub_does_not_know_falls_back_to_utc_and_says_so(tmp_path):
    person_create(username="sam", role=Role.SUPERVISOR, password=PASSWORD)
    with hub(tmp_path) as base, browser() as context:
        page = context.new_page()
        page.add_init_script(
            "const own = Intl.DateTimeFormat.prototype.resolvedOptions;"
            "Intl.DateTimeFormat.prototype.resolvedOptions = function () {"
            "  return { ...own.call(this), timeZone: 'Mars/Olympus_Mons' }; };"
        )
        sign_in(page, base, "sam")
        page.goto(f"{base}/supervisor/")
        expect(page.locator("#zone")).to_have_text("Times in UTC (the hub does not know this browser's zone)")
        expect(page.locator("#updated")).to_have_text(re.compile("^Updated"))
        expect(page.locator("#problem")).to_be_hidden()

"""The agent desk in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against a real uvicorn,
Celery worker and beat on loopback, with DEBUG off (static files served as `make run` serves them).

An agent signs in, opens a customer by phone number and sees the cross-channel timeline; taking up a next
best action whose answer is lost on the way back is said, stays said while events arrive, and is recorded
once when taken again; an SMS posted over REST appears without a reload; a note appears in the timeline; a
search that finds no one is said until the agent opens a customer from My work;
the network is cut and restored and the page catches up exactly; a reload shows the same; a callback
requested over REST pops as an offer with its context, is accepted and its outcome recorded; a cancelled
offer closes and stays closed, even when the page was still reading it. A supervisor's page is refused to
an agent. A status chosen in another tab, a callback offered on the open customer, failed reads of My work
and of a callback, a failed accept, a double-clicked reopen, a position past the log's end and a sign-out
that fails while reconnecting each leave the page true to the hub.

Every check is on what the page shows, through Playwright's auto-waiting expectations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from interactions.models import Role
from interactions.people.services import person_create
from tests.e2e import servers
from tests.factories import ApiTokenFactory

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"),
]
PASSWORD = "correct horse battery staple"
PHONE = "+15551230001"
# Where the test leaves its screenshots of the desk (docs/ when regenerating them).
SCREENSHOTS = os.environ.get("THREADLINE_SCREENSHOTS")
expect.set_options(timeout=20_000)


@contextmanager
def hub(tmp_path: Path, *, started: dict | None = None, runner: bool = False, **settings: str):
    """uvicorn, a Celery worker and beat (and a subscription runner, with `runner`); yields the base URL.
    `started` is filled with the processes, by name."""
    port = servers.free_port()
    env = servers.server_env(
        DATABASE_URL=servers.test_database_url(),
        DJANGO_DEBUG="false",
        THREADLINE_CALLBACK_OFFER_SECONDS="60",
        THREADLINE_CALLBACK_TICK_SECONDS="0.5",
        # The callback is offered at once whatever the hour this runs at, not at the next calling hour.
        THREADLINE_CUSTOMER_CALLING_HOURS=servers.ANY_HOUR,
        **settings,
    )
    specs = {
        "web": [*servers.uvicorn(port), "--log-config", "config/uvicorn-logging.json"],
        "worker": servers.celery_worker(),
        "beat": [
            str(servers.BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
    }
    if runner:
        specs["runner"] = [str(servers.BIN / "python"), "manage.py", "run_subscriptions"]
    base = f"http://127.0.0.1:{port}"
    with servers.processes(specs, env, tmp_path) as processes:
        if started is not None:
            started.update(processes)
        servers.wait_ready(base, tmp_path)
        yield base


@contextmanager
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 800})
            yield context
        finally:
            chromium.close()


def post_events(base: str, token, events: list[dict]) -> list[dict]:
    status, body = servers.request(
        f"{base}/api/v1/events",
        data=json.dumps(events).encode(),
        headers={
            "Content-Type": "application/cloudevents-batch+json",
            "Authorization": f"Bearer {token.raw}",
        },
    )
    assert status == 201, body.get("errors", body)
    return body["results"]


def sms(text: str, event_id: str, at: datetime | None = None) -> dict:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/gateway/sms",
        "type": "message.received",
        "subject": f"tel:{PHONE}",
        "data": {"channel": "sms", "text": text},
    }
    if at is not None:
        event["time"] = at.isoformat()
    return event


def seed(base: str, token) -> None:
    """One customer who wrote by SMS, called, chatted and e-mailed, and answered a survey."""
    now = datetime.now(UTC)
    ago = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    common = {"specversion": "1.0", "source": "/gateway/seed", "subject": f"tel:{PHONE}"}
    post_events(
        base,
        token,
        [
            {
                **common,
                "id": "seed-profile",
                "type": "customer.profile_updated",
                "time": ago(60),
                "data": {"name": "Jane Doe", "language": "en", "timezone": "Europe/Paris", "segment": "gold"},
            },
            {
                **sms("My bill looks wrong this month", "seed-sms-1", now - timedelta(minutes=50)),
                "source": "/gateway/seed",
            },
            {
                **common,
                "id": "seed-call-1",
                "type": "call.started",
                "time": ago(40),
                "data": {"channel": "voice", "direction": "inbound", "conversation_ref": "call-1"},
            },
            {
                **common,
                "id": "seed-call-2",
                "type": "call.ended",
                "time": ago(35),
                "data": {
                    "channel": "voice",
                    "direction": "inbound",
                    "conversation_ref": "call-1",
                    "duration_seconds": 240,
                    "text": "Explained the roaming charge",
                },
            },
            {
                **common,
                "id": "seed-mail-1",
                "type": "message.received",
                "time": ago(20),
                "data": {
                    "channel": "email",
                    "text": "Here is the invoice you asked for",
                    "identifiers": ["mailto:jane@example.com"],
                },
            },
            {
                **common,
                "id": "seed-survey-1",
                "type": "survey.answered",
                "time": ago(10),
                "data": {"channel": "email", "metric": "csat", "score": 2, "comment": "Slow to answer"},
            },
        ],
    )


def sign_in(page, base: str, name: str) -> None:
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Threadline")).to_be_visible()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/desk/$"))
    expect(page.get_by_role("heading", name="Threadline desk")).to_be_visible()


def timeline(page):
    return page.locator("#open-threads .timeline li")


def test_an_agent_works_a_customer_live_across_a_network_cut_a_reload_and_a_callback(tmp_path):
    person_create(username="ann", role=Role.AGENT, password=PASSWORD, skills=["billing"])
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    with hub(tmp_path) as base, browser() as context:
        seed(base, gateway)
        page = context.new_page()
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_label("My status").select_option("available")

        # Find the customer by phone number, written as a person writes it: the whole story, in order.
        page.get_by_role("searchbox", name="Find a customer").fill("+1 555 123 0001")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#customer-title")).to_have_text("Jane Doe")
        expect(page.locator("#identifiers")).to_contain_text("mailto:jane@example.com")
        expect(timeline(page)).to_have_text(
            [
                re.compile("sms.*My bill looks wrong this month"),
                re.compile("voice.*call.started"),
                re.compile("voice.*Explained the roaming charge"),
                re.compile("email.*Here is the invoice you asked for"),
                re.compile("email.*Slow to answer"),
                re.compile("internal.*Follow-up opened: CSAT 2"),  # the rating's follow-up, on its thread
            ]
        )
        expect(page.locator("#surveys")).to_contain_text("CSAT 2")
        expect(page.locator("#reachable")).to_contain_text("sms: yes")

        # The bottom-box rating makes the next best action an apology. The first answer reaches the hub but
        # its response is lost on the way back (a route aborts it once the hub has answered): the page says it
        # could not reach the hub, and the button stays.
        nba = page.locator("#nba li[data-rule=apologise-for-bad-rating]")
        expect(nba).to_contain_text("Acknowledge their CSAT rating of 2")
        lost: list[int] = []

        def lose_the_first_response(route) -> None:
            response = route.fetch()  # the hub has answered: the request was carried out
            if lost:
                route.fulfill(response=response)
            else:
                lost.append(response.status)
                route.abort("connectionreset")

        page.route("**/next-best-actions/apologise-for-bad-rating/taken", lose_the_first_response)
        nba.get_by_role("button", name=re.compile("^Take")).click()
        problem = page.locator("#problem")
        expect(problem).to_contain_text("The hub could not be reached")
        expect(nba.get_by_role("button", name=re.compile("^Take"))).to_be_visible()  # not shown as taken

        # An SMS posted over REST appears without a reload. The page reads the customer's context again for
        # it (the timeline comes from that read), and that read's success leaves the failed answer's
        # problem said: the agent has not seen it through yet.
        post_events(base, gateway, [sms("Is anyone there?", "live-1")])
        expect(timeline(page).filter(has_text="Is anyone there?")).to_have_count(1)
        expect(problem).to_contain_text("The hub could not be reached")

        # The agent double-clicks Take: the desk sends both with the first answer's Idempotency-Key, so the
        # log holds one nba.taken for the three requests (checked below), and the problem is past.
        nba.get_by_role("button", name=re.compile("^Take")).dblclick()
        expect(nba).to_contain_text("(taken)")
        expect(problem).to_be_hidden()
        assert lost == [201]  # the route stays: the double click's second answer may still be on its way
        # The keyboard keeps its place when a redraw takes its button away: here, on the answer given.
        expect(nba.locator(".answered")).to_be_focused()

        # A note, added with the keyboard.
        note = page.locator("#open-threads .note textarea").first
        note.fill("Offered a goodwill credit")
        note.press("Tab")
        page.keyboard.press("Enter")
        expect(timeline(page).filter(has_text="Offered a goodwill credit")).to_have_count(1)
        expect(timeline(page).filter(has_text="Offered a goodwill credit")).to_contain_text("note")
        # A double click on "Add note" is one note: the desk sends both with the note's Idempotency-Key.
        note.fill("Will call back after 5")
        page.locator("#open-threads form.note").first.get_by_role("button", name="Add note").dblclick()
        expect(timeline(page).filter(has_text="Will call back after 5")).to_have_count(1)
        page.wait_for_load_state("networkidle")
        status, log = servers.request(
            f"{base}/api/v1/events?after=0&limit=1000", headers={"Authorization": f"Bearer {supervisor.raw}"}
        )
        notes = [e for e in log["events"] if e["event"]["data"].get("text") == "Will call back after 5"]
        assert (status, len(notes)) == (200, 1)

        # Take the thread: it is mine, in My work.
        page.get_by_role("button", name="Assign to me").click()
        expect(page.locator("#open-threads .thread-meta")).to_contain_text("assigned to me")
        expect(page.locator("#open-threads .thread-title")).to_be_focused()  # the button is gone
        expect(page.locator("#work-list .thread-item")).to_have_count(1)

        # A search that finds no one says so, and the customer on screen stays; opening a customer from My
        # work is moving on, so the problem line is cleared (the context read that follows says only its own).
        page.get_by_role("searchbox", name="Find a customer").fill("+1 555 000 0000")
        page.get_by_role("button", name="Find").click()
        expect(problem).to_have_text("No customer with the identifier tel:+15550000000.")
        expect(page.locator("#customer-title")).to_have_text("Jane Doe")
        page.locator("#work-list .thread-item button").click()
        expect(problem).to_be_hidden()
        expect(page.locator("#customer")).to_be_focused()

        # The network goes; three messages arrive meanwhile; it comes back: each shows exactly once.
        context.set_offline(True)
        expect(page.locator("#connection")).to_have_text("Offline")
        missed = [f"While you were away {n}" for n in range(3)]
        post_events(base, gateway, [sms(text, f"away-{n}") for n, text in enumerate(missed)])
        expect(timeline(page).filter(has_text="While you were away")).to_have_count(0)
        context.set_offline(False)
        expect(page.locator("#connection")).to_have_text("Live")
        for text in missed:
            expect(timeline(page).filter(has_text=text)).to_have_count(1)
        expect(timeline(page)).to_have_count(12)  # 6 seeded, 1 live, 2 notes, 3 missed: nothing twice
        shown = [int(p) for p in timeline(page).evaluate_all("els => els.map(e => e.dataset.position)")]
        assert shown == sorted(set(shown))  # each position once; all of this happened in log order

        # A reload resumes on the same customer and shows the same, once.
        page.reload()
        expect(page.locator("#customer-title")).to_have_text("Jane Doe")
        expect(page.get_by_label("My status")).to_have_value("available")
        expect(timeline(page)).to_have_count(12)
        post_events(base, gateway, [sms("After the reload", "reload-1")])
        expect(timeline(page).filter(has_text="After the reload")).to_have_count(1)
        expect(timeline(page)).to_have_count(13)
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "desk.png"))

        # A callback requested over REST pops as an offer with its context; accepted; outcome recorded.
        status, callback = servers.request(
            f"{base}/api/v1/callbacks",
            data=json.dumps(
                {"identifier": f"tel:{PHONE}", "phone": PHONE, "reason": "Wants the credit explained"}
            ).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {gateway.raw}"},
        )
        assert status == 201, callback
        offer = page.get_by_role("dialog", name="Callback offer")
        expect(offer).to_be_visible()
        expect(offer.locator("#offer-summary")).to_contain_text("Jane Doe")
        expect(offer.locator("#offer-summary")).to_contain_text("Wants the credit explained")
        expect(offer.locator("#offer-countdown")).to_have_text(re.compile(r"\d+ s left to accept"))
        expect(offer.locator("#offer-timeline li").filter(has_text="After the reload")).to_have_count(1)
        expect(page.locator("#work-list")).to_contain_text("Callback offer")
        if SCREENSHOTS:
            page.screenshot(path=str(Path(SCREENSHOTS) / "desk-offer.png"))
        offer.get_by_role("button", name="Accept").click()
        expect(offer.get_by_label("How did the call go?")).to_be_visible()
        expect(page.locator("#work-list")).to_contain_text("Callback under way")
        offer.get_by_label("How did the call go?").select_option("completed")
        offer.get_by_label("Note").fill("Credit explained, customer happy")
        offer.get_by_role("button", name="Record outcome").click()
        expect(offer).to_be_hidden()
        page.wait_for_function("document.activeElement && document.activeElement !== document.body")
        expect(timeline(page).filter(has_text="completed (Credit explained, customer happy)")).to_have_count(
            1
        )
        expect(page.locator("#pending-callbacks")).to_have_text("none")
        expect(page.locator("#work-list .offer")).to_have_count(0)
        status, stored = servers.request(
            f"{base}/api/v1/callbacks/{callback['id']}", headers={"Authorization": f"Bearer {gateway.raw}"}
        )
        assert (status, stored["state"]) == (200, "completed")
        status, log = servers.request(
            f"{base}/api/v1/events?after=0&limit=1000", headers={"Authorization": f"Bearer {supervisor.raw}"}
        )
        taken = [e["event"]["data"]["rule_id"] for e in log["events"] if e["event"]["type"] == "nba.taken"]
        assert (status, taken) == (200, ["apologise-for-bad-rating"])

        # Resolve, then reopen.
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#open-empty")).to_be_visible()
        expect(page.locator("#open-title")).to_be_focused()  # its thread is gone
        expect(page.locator("#work-list .thread-item")).to_have_count(0)
        # Reopening goes through: a problem said before it is past.
        page.get_by_role("searchbox", name="Find a customer").fill("+1 555 000 0000")
        page.get_by_role("button", name="Find").click()
        expect(problem).to_contain_text("No customer with the identifier")
        page.locator("#resolved-threads").get_by_role("button", name=re.compile("^Reopen")).click()
        expect(page.locator("#open-threads .thread")).to_have_count(1)
        expect(problem).to_be_hidden()
        expect(page.locator("#open-threads .thread-title")).to_be_focused()  # the reopened thread
        expect(timeline(page).filter(has_text="Is anyone there?")).to_have_count(1)


def test_signing_in_is_required_and_a_supervisors_page_is_refused_to_an_agent(tmp_path):
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    person_create(username="sam", role=Role.SUPERVISOR, password=PASSWORD)
    with hub(tmp_path) as base, browser() as context:
        page = context.new_page()
        page.goto(f"{base}/desk/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/desk/$"))
        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("did not match")
        sign_in(page, base, "ann")
        # The static assets come from the hub itself, with DEBUG off.
        css = page.request.get(f"{base}/static/desk/desk.css")
        assert css.status == 200 and "text/css" in css.headers["content-type"]

        # The raw log is a supervisor's (and admin's) page: refused to the agent's session...
        page.goto(f"{base}/api/v1/events?after=0")
        expect(page.locator("body")).to_contain_text("may not read the raw log")
        # ...and the admin too (agents are not staff).
        page.goto(f"{base}/admin/")
        expect(page).to_have_url(re.compile(r"/admin/login/"))
        page.goto(f"{base}/desk/")
        expect(page.locator("#connection")).to_have_text("Live")
        # A sign-out that cannot reach the hub says so, and the page stays, live again once it can.
        context.set_offline(True)
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#problem")).to_have_text(
            "Could not sign out: the hub could not be reached: check the network. Try again."
        )
        expect(page).to_have_url(re.compile(r"/desk/$"))
        context.set_offline(False)
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/accounts/login/$"))
        page.goto(f"{base}/api/v1/events?after=0")
        expect(page.locator("body")).to_contain_text("credentials were not provided")

        # The supervisor's session reads it.
        sign_in(page, base, "sam")
        expect(page.get_by_label("My status")).to_have_count(0)  # supervisors have no presence
        page.goto(f"{base}/api/v1/events?after=0")
        expect(page.locator("body")).to_contain_text('"events"')


def test_a_tab_past_the_sockets_a_person_may_hold_says_so_and_connects_once_another_closes(tmp_path):
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    with hub(tmp_path, THREADLINE_WS_SOCKETS_PER_PRINCIPAL="1") as base, browser() as context:
        first = context.new_page()
        sign_in(first, base, "ann")
        expect(first.locator("#connection")).to_have_text("Live")

        second = context.new_page()  # the same session: the same person
        second.goto(f"{base}/desk/")
        expect(second.locator("#connection")).to_have_text("Too many desk tabs open: close one")

        first.close()
        expect(second.locator("#connection")).to_have_text("Live")  # its next try, at most 10 s later


def test_a_desk_whose_read_models_are_behind_says_catching_up_then_shows_what_it_waited_for(tmp_path):
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    started: dict = {}
    production = {"DJANGO_SETTINGS_MODULE": "config.settings", "THREADLINE_SUBSCRIPTIONS_EAGER": "false"}
    with (
        hub(tmp_path, started=started, runner=True, THREADLINE_READ_WAIT_SECONDS="0.2", **production) as base,
        browser() as context,
    ):
        post_events(base, gateway, [sms("First message", "behind-1")])
        page = context.new_page()
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()
        expect(timeline(page).filter(has_text="First message")).to_have_count(1)

        # The runner stalls: the socket still delivers the next SMS (it reads the log), but the customer's
        # read models do not hold it yet, and the hub answers the page's read 503 with Retry-After.
        runner = started["runner"]
        os.kill(runner.pid, signal.SIGSTOP)
        try:
            post_events(base, gateway, [sms("While the runner stalls", "behind-2")])
            expect(page.locator("#connection")).to_have_text("Catching up…")
            expect(timeline(page).filter(has_text="While the runner stalls")).to_have_count(0)
        finally:
            os.kill(runner.pid, signal.SIGCONT)
        # Asked again after the Retry-After given, once the runner has applied it: live, the SMS shown once.
        expect(timeline(page).filter(has_text="While the runner stalls")).to_have_count(1)
        expect(page.locator("#connection")).to_have_text("Live")


class Holder:
    """A route handler that keeps each request it catches unanswered until `release()`; from then on it lets
    every request through."""

    def __init__(self) -> None:
        self.routes: list = []
        self.holding = True

    def __call__(self, route) -> None:
        if self.holding:
            self.routes.append(route)
        else:
            route.continue_()

    def release(self) -> list:
        self.holding = False
        for route in self.routes:
            route.continue_()
        return self.routes


class Early:
    """A route handler that lets each request it catches reach the hub at once but keeps the hub's answer
    from the page until the test hands it over (`answer(i)`): answers that arrive out of order."""

    def __init__(self) -> None:
        self.caught: list = []

    def __call__(self, route) -> None:
        self.caught.append((route, route.fetch()))

    def answer(self, page, index: int) -> None:
        """Hand the page the answer to the `index`th request caught, and let it act on it."""
        route, response = self.caught[index]
        with page.expect_response(lambda answered: answered.request == route.request):
            route.fulfill(response=response)
        page.evaluate("() => new Promise((done) => setTimeout(done, 200))")


def wait_until(page, condition, what: str) -> None:
    """Let the page run until `condition()` holds (a route has caught a request): at most 20 s."""
    for _ in range(400):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the page never made {what}")


def test_an_answer_that_arrives_after_a_newer_one_never_replaces_it(tmp_path):
    """The page reads My work again for each event, and the agent may search again before an answer comes:
    answers overtaken on the way (held here by a route, already answered by the hub) change nothing."""
    ann = person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    bob = person_create(username="bob", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    other = "+15551230002"
    as_supervisor = {"Content-Type": "application/json", "Authorization": f"Bearer {supervisor.raw}"}
    with hub(tmp_path) as base, browser() as context:
        survey = {"channel": "sms", "metric": "csat", "score": 1}
        jane = post_events(
            base,
            gateway,
            [sms("Hello", "order-1"), {**sms("", "order-s"), "type": "survey.answered", "data": survey}],
        )[0]
        post_events(base, gateway, [{**sms("Hi from Max", "order-2"), "subject": f"tel:{other}"}])
        page = context.new_page()
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")

        # Two searches, the second answered first: the customer searched for last stays on screen.
        search = Early()
        page.route(re.compile(r"/api/v1/context\?identifier="), search)
        for number in (PHONE, other):
            page.get_by_role("searchbox", name="Find a customer").fill(number)
            page.get_by_role("button", name="Find").click()
        wait_until(page, lambda: len(search.caught) == 2, "both searches")
        search.answer(page, 1)
        expect(page.locator("#identifiers")).to_contain_text(f"tel:{other}")
        search.answer(page, 0)
        expect(page.locator("#identifiers")).to_contain_text(f"tel:{other}")
        expect(page.locator("#identifiers")).not_to_contain_text(f"tel:{PHONE}")
        page.unroute(re.compile(r"/api/v1/context\?identifier="))

        # Ann takes up Jane's next best action, and opens Max before the answer comes: it is recorded, and
        # Jane's recommendations are not drawn on Max's page.
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()
        nba = page.locator("#nba li[data-rule=apologise-for-bad-rating]")
        expect(nba).to_contain_text("Acknowledge their CSAT rating of 1")
        taken = Early()
        page.route("**/next-best-actions/apologise-for-bad-rating/taken", taken)
        nba.get_by_role("button", name=re.compile("^Take")).click()
        wait_until(page, lambda: taken.caught, "the answer to the next best action")
        page.get_by_role("searchbox", name="Find a customer").fill(other)
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#identifiers")).to_contain_text(f"tel:{other}")
        taken.answer(page, 0)
        expect(page.locator("#announce")).to_have_text("Recorded: taken")
        expect(page.locator("#identifiers")).to_contain_text(f"tel:{other}")
        expect(page.locator("#nba-card")).to_be_hidden()

        # Jane's thread is given to Ann: it is in her My work.
        assign = f"{base}/api/v1/threads/{jane['thread_id']}/assign"
        status, body = servers.request(
            assign, data=json.dumps({"agent_id": str(ann.principal_id)}).encode(), headers=as_supervisor
        )
        assert status == 201, body
        expect(page.locator("#work-list .thread-item")).to_have_count(1)

        # Jane writes (My work is read again: her thread is still Ann's), then the thread is given to Bob
        # (read again: it is gone). The first read's answer arrives last: it does not bring the thread back.
        lists = Early()
        pattern = re.compile(r"/api/v1/threads\?agent=")
        page.route(pattern, lists)
        post_events(base, gateway, [sms("Still there?", "order-3")])
        wait_until(page, lambda: lists.caught, "My work read again for Jane's message")
        page.wait_for_timeout(300)  # the same event on a second topic may ask once more
        before = len(lists.caught)
        status, body = servers.request(
            assign, data=json.dumps({"agent_id": str(bob.principal_id)}).encode(), headers=as_supervisor
        )
        assert status == 201, body
        wait_until(page, lambda: len(lists.caught) > before, "My work read again for the reassignment")
        page.wait_for_timeout(300)
        for index in range(before, len(lists.caught)):
            lists.answer(page, index)
        expect(page.locator("#work-list .thread-item")).to_have_count(0)
        for index in range(before):
            lists.answer(page, index)
        expect(page.locator("#work-list .thread-item")).to_have_count(0)
        page.unroute(pattern)


def status_changes_of(base: str, reader, agent_id: str) -> list[str]:
    """The statuses the log holds for this agent (read over REST: the browser's loop owns this thread)."""
    status, body = servers.request(
        f"{base}/api/v1/events?after=0&limit=1000", headers={"Authorization": f"Bearer {reader.raw}"}
    )
    assert status == 200, body
    return [
        e["event"]["data"]["status"]
        for e in body["events"]
        if e["event"]["type"] == "agent.status_changed" and e["event"]["data"].get("agent_id") == agent_id
    ]


def test_what_customers_wrote_cannot_reorder_the_page_and_a_tab_starts_afresh_for_the_next_person(tmp_path):
    ann = person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    bob = person_create(username="bob", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    with hub(tmp_path) as base, browser() as context:
        # A right-to-left override in a name reversed whatever the page drew after it.
        profile = {**sms("", "rtl-0"), "type": "customer.profile_updated", "data": {"name": "Jane \u202eDoe"}}
        post_events(base, gateway, [sms("Hello", "rtl-1"), profile])
        page = context.new_page()
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")  # the page's module has run
        page.get_by_label("My status").select_option("available")

        # A second tab shows the status the first one set.
        for _ in range(100):
            if status_changes_of(base, supervisor, str(ann.principal_id)) == ["available"]:
                break
            time.sleep(0.2)
        second = context.new_page()
        second.goto(f"{base}/desk/")
        expect(second.get_by_label("My status")).to_have_value("available")
        second.close()

        # A phone number as people write it, with parentheses.
        page.get_by_role("searchbox", name="Find a customer").fill("(555) 123-0001")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#customer-title")).to_have_text("Jane \ufffdDoe")

        # A thread in My work that a supervisor gives to Bob leaves Ann's My work, live; and it is told
        # on its thread, so it leaves with no customer open too.
        page.get_by_role("button", name="Assign to me").click()
        expect(page.locator("#work-list .thread-item")).to_have_count(1)
        thread_id = page.locator("#open-threads .thread").first.get_attribute("data-thread")
        page.evaluate("() => { sessionStorage.removeItem('threadline.desk.customer'); }")
        page.reload()
        expect(page.locator("#connection")).to_have_text("Live")
        expect(page.locator("#customer-title")).to_have_text("No customer open")
        page.wait_for_load_state("networkidle")  # My work read once caught up: nothing left to refresh it
        expect(page.locator("#work-list .thread-item")).to_have_count(1)
        as_supervisor = {"Content-Type": "application/json", "Authorization": f"Bearer {supervisor.raw}"}
        status, moved = servers.request(
            f"{base}/api/v1/threads/{thread_id}/assign",
            data=json.dumps({"agent_id": str(bob.principal_id)}).encode(),
            headers=as_supervisor,
        )
        assert status == 201, moved
        expect(page.locator("#work-list .thread-item")).to_have_count(0)
        page.get_by_role("searchbox", name="Find a customer").fill("(555) 123-0001")
        page.get_by_role("button", name="Find").click()
        expect(page.locator("#customer-title")).to_have_text("Jane \ufffdDoe")

        # The offer reads in order; once the callback is cancelled the offer closes rather than count down.
        # The page considers the offer twice at once, from its frame and from My work. The routes below make
        # that happen every time: both reads of the callback are held until both are asked, and My work's
        # further reads (it has no context with it) until after the cancel. Those late answers must not pop
        # the cancelled offer up again.
        held = {name: Holder() for name in ("callback", "thread", "context")}
        page.route(re.compile(r"/api/v1/callbacks/[0-9a-f-]+$"), held["callback"])
        page.route(re.compile(r"/api/v1/threads/[0-9a-f-]+\?limit=20$"), held["thread"])
        page.route(re.compile(r"/api/v1/customers/[0-9a-f-]+/context"), held["context"])
        auth = {"Content-Type": "application/json", "Authorization": f"Bearer {gateway.raw}"}
        body = json.dumps({"identifier": f"tel:{PHONE}", "phone": PHONE, "reason": "bill"}).encode()
        status, callback = servers.request(f"{base}/api/v1/callbacks", data=body, headers=auth)
        assert status == 201, callback
        offer = page.get_by_role("dialog", name="Callback offer")
        wait_until(page, lambda: len(held["callback"].routes) >= 2, "the offer's two reads of the callback")
        held["callback"].release()
        expect(offer.locator("#offer-summary")).to_have_text(f"Call Jane \ufffdDoe on {PHONE}: bill")
        wait_until(page, lambda: held["thread"].routes, "My work's read of the offer's thread")
        status, cancelled = servers.request(
            f"{base}/api/v1/callbacks/{callback['id']}/cancel", data=b"{}", headers=auth
        )
        assert status == 200, cancelled
        expect(offer).to_be_hidden()
        expect(page.locator("#announce")).to_have_text("The callback was cancelled")
        # My work's reads go on: its thread's answer, then a read of the customer (with no min_position,
        # unlike the open customer's reads, which may be held here too).
        before = len(held["context"].routes)
        held["thread"].release()

        def offers_read():
            return [r for r in held["context"].routes[before:] if r.request.url.endswith("/context")]

        wait_until(page, offers_read, "My work's read of the offer's customer")
        with page.expect_response(lambda response: response.request == offers_read()[0].request):
            held["context"].release()
        page.evaluate("() => new Promise((done) => setTimeout(done, 200))")  # the page has read the answers
        expect(offer).to_be_hidden()
        expect(page.locator("#announce")).to_have_text("The callback was cancelled")

        # Bob signs in to the same tab: nothing of Ann's comes with it, and no status is sent for him.
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/accounts/login/$"))  # once the hub has signed Ann out
        sign_in(page, base, "bob")
        expect(page.locator("#connection")).to_have_text("Live")
        expect(page.get_by_label("My status")).not_to_have_value("available")
        expect(page.locator("#customer-title")).not_to_have_text("Jane \ufffdDoe")
        assert status_changes_of(base, supervisor, str(ann.principal_id)) == ["available"]
        assert status_changes_of(base, supervisor, str(bob.principal_id)) == []


# Every socket the page opens, kept where the test can count them (the page's own are in a module).
COUNT_SOCKETS = """
window.sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    window.sockets.push(this);
  }
};
"""
DROP_THE_SOCKET_THEN_SIGN_OUT = """
async () => {
  const socket = window.sockets.at(-1);
  // The page hears the close first (it plans to reconnect), then the agent signs out.
  await new Promise((done) => {
    socket.addEventListener("close", () => setTimeout(done, 0));
    socket.close();
  });
  document.getElementById("sign-out").requestSubmit();
}
"""
OPEN_SOCKETS = "() => window.sockets.filter((s) => s.readyState <= WebSocket.OPEN).length"


def test_the_page_keeps_up_with_other_tabs_the_hub_and_its_own_failures(tmp_path):
    """A status chosen in another tab, a callback offered on the open customer, a failed read of My work, a
    failed accept, a double-clicked reopen, a position the log does not reach (restored from a backup), and
    a sign-out that fails while the page is reconnecting: each leaves the page true to the hub."""
    ann = person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    supervisor = ApiTokenFactory(role=Role.SUPERVISOR)
    me = str(ann.principal_id)
    with hub(tmp_path) as base, browser() as context:
        jane = post_events(base, gateway, [sms("Hello", "keep-1")])[0]
        page = context.new_page()
        page.add_init_script(COUNT_SOCKETS)
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")
        status = page.get_by_label("My status")
        status.select_option("available")
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()
        expect(timeline(page).filter(has_text="Hello")).to_have_count(1)
        problem = page.locator("#problem")

        # A status chosen in another tab is this tab's too: a reload sends it, not this tab's older one.
        wait_until(page, lambda: status_changes_of(base, supervisor, me) == ["available"], "the status set")
        second = context.new_page()
        second.goto(f"{base}/desk/")
        expect(second.get_by_label("My status")).to_have_value("available")
        second.get_by_label("My status").select_option("busy")
        expect(status).to_have_value("busy")
        second.close()
        page.reload()
        expect(page.locator("#connection")).to_have_text("Live")
        expect(status).to_have_value("busy")
        page.wait_for_timeout(1000)  # the status the page sends once subscribed has reached the hub
        assert status_changes_of(base, supervisor, me) == ["available", "busy"]

        # A callback offered to Ann is on agent:me and on the open customer's topic: the customer's pending
        # callbacks follow it (the frame names agent:me, the first topic by name).
        auth = {"Content-Type": "application/json", "Authorization": f"Bearer {gateway.raw}"}
        body = json.dumps({"identifier": f"tel:{PHONE}", "phone": PHONE, "reason": "bill"}).encode()
        answer, callback = servers.request(f"{base}/api/v1/callbacks", data=body, headers=auth)
        assert answer == 201, callback
        expect(page.locator("#pending-callbacks")).to_contain_text("scheduled")
        status.select_option("available")
        offer = page.get_by_role("dialog", name="Callback offer")
        expect(offer).to_be_visible()
        expect(page.locator("#pending-callbacks")).to_contain_text("offered")

        # Accepting fails on the way, then goes through: what the dialog said of the failure goes with it.
        page.route("**/accept", lambda route: route.abort())
        offer.get_by_role("button", name="Accept").click()
        expect(offer.locator("#offer-problem")).to_contain_text("could not be reached")
        page.unroute("**/accept")
        offer.get_by_role("button", name="Accept").click()
        expect(offer.get_by_label("How did the call go?")).to_be_visible()
        expect(offer.locator("#offer-problem")).to_be_hidden()
        # Closed, and opened again from My work while the hub cannot answer: said, not silently nothing.
        page.keyboard.press("Escape")
        expect(offer).to_be_hidden()
        one = re.compile(r"/api/v1/callbacks/[0-9a-f-]+$")
        page.route(one, lambda route: route.abort())
        page.locator("#work-list .offer").get_by_role("button").click()
        expect(problem).to_have_text(
            re.compile("^The callback could not be opened: The hub could not be reached")
        )
        page.unroute(one)
        page.locator("#work-list .offer").get_by_role("button").click()
        expect(offer).to_be_visible()
        offer.get_by_label("How did the call go?").select_option("completed")
        offer.get_by_role("button", name="Record outcome").click()
        expect(offer).to_be_hidden()

        # My work cannot be read when a supervisor gives Ann a thread: the page says so, until a read of it
        # goes through.
        work = re.compile(r"/api/v1/threads\?agent=")
        page.route(
            work,
            lambda route: route.fulfill(
                status=500,
                content_type="application/problem+json",
                body=json.dumps({"title": "Internal server error", "status": 500, "detail": "Out of order"}),
            ),
        )
        as_supervisor = {"Content-Type": "application/json", "Authorization": f"Bearer {supervisor.raw}"}
        answer, assigned = servers.request(
            f"{base}/api/v1/threads/{jane['thread_id']}/assign",
            data=json.dumps({"agent_id": me}).encode(),
            headers=as_supervisor,
        )
        assert answer == 201, assigned
        expect(problem).to_have_text("My work could not be read: Out of order")
        page.unroute(work)
        status.select_option("busy")  # heard on agent:me: My work is read again
        expect(problem).to_be_hidden()
        expect(page.locator("#work-list .thread-item")).to_have_count(1)

        # Reopen double-clicked: reopened once, and the second answer says nothing went wrong.
        page.get_by_role("button", name="Resolve").click()
        expect(page.locator("#open-empty")).to_be_visible()
        reopen = Early()
        page.route(re.compile(r"/reopen$"), reopen)
        page.locator("#resolved-threads").get_by_role("button", name=re.compile("^Reopen")).dblclick()
        wait_until(page, lambda: len(reopen.caught) == 2, "both reopens")
        reopen.answer(page, 0)
        reopen.answer(page, 1)
        page.unroute(re.compile(r"/reopen$"))
        expect(page.locator("#open-threads .thread")).to_have_count(1)
        expect(problem).to_be_hidden()
        answer, log = servers.request(
            f"{base}/api/v1/events?after=0&limit=1000", headers={"Authorization": f"Bearer {supervisor.raw}"}
        )
        reopened = [e for e in log["events"] if e["event"]["type"] == "thread.reopened"]
        assert (answer, [e["event"]["data"]["thread_id"] for e in reopened]) == (200, [jane["thread_id"]])

        # The log was restored from a backup: the page's position is past its end, and the customer it had
        # open is not in it. It starts again from now, with no customer open, and says so.
        page.evaluate(
            """() => {
              sessionStorage.setItem('threadline.desk.position', '999999999');
              sessionStorage.setItem('threadline.desk.customer', '00000000-0000-0000-0000-0000000000ab');
            }"""
        )
        page.reload()
        expect(page.locator("#connection")).to_have_text("Live")
        expect(page.locator("#customer-title")).to_have_text("No customer open")
        expect(problem).to_contain_text("The customer that was open is not in the hub")
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()
        expect(timeline(page).filter(has_text="Hello")).to_have_count(1)
        post_events(base, gateway, [sms("After the restore", "keep-2")])
        expect(timeline(page).filter(has_text="After the restore")).to_have_count(1)
        expect(problem).to_be_hidden()

        # The socket drops, and the agent signs out before it is back; the sign-out fails. One socket.
        held = Holder()
        page.route("**/accounts/logout/", held)
        page.evaluate(DROP_THE_SOCKET_THEN_SIGN_OUT)
        wait_until(page, lambda: held.routes, "the sign-out")
        page.wait_for_timeout(1000)  # the reconnection planned when the socket dropped is due
        held.routes[0].fulfill(status=500, body="")
        expect(problem).to_contain_text("Could not sign out")
        expect(page.locator("#connection")).to_have_text("Live")
        page.wait_for_timeout(500)
        assert page.evaluate(OPEN_SOCKETS) == 1


def test_answers_to_two_next_best_actions_keep_both_marks_whatever_order_they_come_back_in(tmp_path):
    """Take one recommendation on a slow network, dismiss another while the first answer is on its way: both
    stay marked (the first answer's late success wrote back the marks as they were when its button was drawn,
    and the other's was lost)."""
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    with hub(tmp_path) as base, browser() as context:
        survey = {"channel": "sms", "metric": "csat", "score": 1}
        post_events(
            base,
            gateway,
            [sms("Hello", "marks-1"), {**sms("", "marks-s"), "type": "survey.answered", "data": survey}],
        )
        auth = {"Content-Type": "application/json", "Authorization": f"Bearer {gateway.raw}"}
        body = json.dumps({"identifier": f"tel:{PHONE}", "phone": PHONE, "reason": "bill"}).encode()
        answer, callback = servers.request(f"{base}/api/v1/callbacks", data=body, headers=auth)
        assert answer == 201, callback  # pending (Ann is offline): "mention-callback" is recommended
        page = context.new_page()
        sign_in(page, base, "ann")
        # The page's module has run (its socket is live) before the search is used: on a busy machine a click
        # before it submitted the search form as plain HTML, and no customer was opened.
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()
        apologise = page.locator("#nba li[data-rule=apologise-for-bad-rating]")
        mention = page.locator("#nba li[data-rule=mention-callback]")
        expect(apologise.get_by_role("button", name=re.compile("^Take"))).to_be_visible()
        expect(mention.get_by_role("button", name=re.compile("^Dismiss"))).to_be_visible()

        # Taken: recorded at once, its answer held back; the event it made has the page draw the list again.
        taken = Early()
        page.route("**/next-best-actions/apologise-for-bad-rating/taken", taken)
        with page.expect_response(lambda r: "/context" in r.url and r.request.method == "GET"):
            apologise.get_by_role("button", name=re.compile("^Take")).click()
        wait_until(page, lambda: taken.caught, "the hub's answer to the take")  # recorded, answer held
        mention.get_by_role("button", name=re.compile("^Dismiss")).click()
        expect(mention.locator(".answered")).to_have_text("(dismissed)")
        taken.answer(page, 0)
        expect(apologise.locator(".answered")).to_have_text("(taken)")
        expect(mention.locator(".answered")).to_have_text("(dismissed)")
        page.reload()  # the marks are kept per tab
        expect(apologise.locator(".answered")).to_have_text("(taken)")
        expect(mention.locator(".answered")).to_have_text("(dismissed)")


class Sockets:
    """A websocket route: through to the hub, or (`refusing`) accepted and closed at once, as a hub that
    drops every connection would."""

    def __init__(self) -> None:
        self.refusing = False

    def __call__(self, ws) -> None:
        if self.refusing:
            ws.close()
        else:
            ws.connect_to_server()


HEARD = """
() => {
  window.heard = [];
  const node = document.getElementById("connection");
  const said = () => window.heard.push(node.textContent);
  new MutationObserver(said).observe(node, { childList: true, characterData: true, subtree: true });
}
"""


def test_while_the_socket_keeps_failing_the_connection_label_says_reconnecting_once(tmp_path):
    """The connection label is a live region: each change is read out. During an outage it said
    "Connecting…" and "Reconnecting…" in turn on every attempt."""
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    with hub(tmp_path) as base, browser() as context:
        page = context.new_page()
        sockets = Sockets()
        page.route_web_socket(re.compile(r"/ws/v1/agent$"), sockets)
        page.add_init_script(COUNT_SOCKETS)
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")
        page.evaluate(HEARD)
        sockets.refusing = True
        page.evaluate("() => window.sockets.at(-1).close()")
        wait_until(page, lambda: page.evaluate("window.sockets.length") >= 5, "four attempts to reconnect")
        sockets.refusing = False
        expect(page.locator("#connection")).to_have_text("Live")
        assert page.evaluate("window.heard") == ["Reconnecting…", "Live"]


def test_a_person_whose_role_changes_gets_the_page_of_the_new_role_at_once(tmp_path):
    """The socket closes with 4409 once the principal's role is another, and the page is drawn again for it:
    a supervisor made an agent gets a status (and no longer has `all`); nothing needs the person to reload."""
    sam = person_create(username="sam", role=Role.SUPERVISOR, password=PASSWORD)
    with hub(tmp_path) as base, browser() as context:
        page = context.new_page()
        sign_in(page, base, "sam")
        expect(page.locator("#connection")).to_have_text("Live")
        expect(page.get_by_label("My status")).to_have_count(0)  # supervisors have no presence

        in_a_thread(lambda: type(sam.principal).objects.filter(pk=sam.principal.pk).update(role=Role.AGENT))

        expect(page.get_by_label("My status")).to_have_count(1)
        expect(page.locator("#connection")).to_have_text("Live")
        expect(page).to_have_url(re.compile(r"/desk/$"))


def in_a_thread(work):
    """Run database work from a test while the browser's event loop owns this thread (Django refuses it
    here), on a connection of its own that is closed after."""

    def run():
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_a_thread_gone_idle_still_shows_marked_idle_and_a_new_message_on_it_makes_it_active_again(tmp_path):
    """The beat idles a thread quiet for the continuation window; the agent who opens the customer still sees
    it, with its timeline, marked idle, and once she takes it, in her work as idle; the customer's reply in
    its conversation makes it active, live. Their profile shows the lifetime value a recorded sale gave
    them."""
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    gateway = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/gateway/")
    reader = ApiTokenFactory(role=Role.SUPERVISOR)
    with hub(tmp_path, THREADLINE_IDLE_TICK_SECONDS="0.5") as base, browser() as context:
        quiet = {**sms("Is my order shipped?", "idle-1", datetime.now(UTC) - timedelta(hours=80))}
        quiet["data"] = {**quiet["data"], "conversation_ref": "sms-idle"}
        (posted,) = post_events(base, gateway, [quiet])
        thread_url = f"{base}/api/v1/threads/{posted['thread_id']}"
        auth = {"Authorization": f"Bearer {reader.raw}"}
        deadline = time.monotonic() + 60
        while servers.request(thread_url, headers=auth)[1].get("status") != "idle":  # the beat's task ran
            assert time.monotonic() < deadline, "the thread did not idle"
            time.sleep(0.2)
        sale = {"kind": "sale", "value": "129.9000", "currency": "EUR"}
        post_events(base, gateway, [{**sms("", "idle-sale"), "type": "outcome.recorded", "data": sale}])
        page = context.new_page()
        sign_in(page, base, "ann")
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_role("searchbox", name="Find a customer").fill(PHONE)
        page.get_by_role("button", name="Find").click()

        # The profile shows what their outcomes added, in its currency (README "Outcomes").
        expect(page.locator("#profile")).to_contain_text("Lifetime value129.90 EUR")
        thread = page.locator(f'#open-threads [data-thread="{posted["thread_id"]}"]')
        expect(thread.locator(".thread-meta")).to_contain_text("idle: no activity since")
        expect(thread.locator(".timeline")).to_contain_text("Is my order shipped?")
        expect(thread.locator(".timeline")).to_contain_text("Thread idle")
        # Ann takes it: it is hers to finish, so My work lists it, as idle.
        thread.locator(".take").click()
        expect(page.locator("#work-list li")).to_have_text([re.compile(r"^Idle thread")])

        reply = {**sms("Hello again?", "idle-2"), "data": {"channel": "sms", "text": "Hello again?",
                                                          "conversation_ref": "sms-idle"}}  # fmt: skip
        post_events(base, gateway, [reply])
        expect(thread.locator(".timeline")).to_contain_text("Hello again?")
        expect(thread.locator(".thread-meta")).not_to_contain_text("idle")
        expect(page.locator("#work-list li")).to_have_text([re.compile(r"^Thread")])

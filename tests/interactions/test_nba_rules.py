"""Next best action rules: every predicate on hand-built contexts, the shipped file, ranking, and rules files
that are refused at start-up with a message that says what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from interactions.nba import rules
from interactions.nba.rules import InvalidRules, Situation, evaluate, parse_rules

NAN = float("nan")
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def ctx(**parts) -> dict:
    """A context answer as the selector builds it, with only what a test needs filled in."""
    base = {
        "customer": {"id": "c1", "identifiers": [], "language": None, "timezone": None, "birthday": None,
                     "preferences": {}},
        "open_threads": [], "idle_threads": [], "recently_resolved": [], "pending_callbacks": [],
        "callback_reached_at": None,
        "surveys": {},
        "reachable": {"whatsapp": {"open": False, "until": None}},
    }  # fmt: skip
    customer = parts.pop("customer", {})
    return {**base, **parts, "customer": {**base["customer"], **customer}}


def fire(name: str, context: dict, now: datetime = NOW, **params) -> dict | None:
    predicate = rules.PREDICATES[name]
    return predicate.fn(Situation(context, now, "UTC"), predicate.params.model_validate(params))


def entry(
    minutes_ago: float, *, direction: str = "inbound", channel: str = "sms", type_: str = "message.received"
):
    return {"occurred_at": NOW - timedelta(minutes=minutes_ago), "direction": direction, "channel": channel,
            "type": type_, "text": "", "agent_id": None, "details": {}, "position": 1}  # fmt: skip


def thread(*entries, topic: str | None = "billing", last_activity: datetime = NOW) -> dict:
    return {"id": "t1", "topic": topic, "last_activity_at": last_activity, "recent": list(entries)}


# --- bottom_box_rating ------------------------------------------------------------------------------------


def survey(score: int, days_ago: float) -> dict:
    return {
        "last": score,
        "at": (NOW - timedelta(days=days_ago)).isoformat(),
        "trend": None,
        "history": [score],
    }


@pytest.mark.parametrize(
    ("metric", "score", "fires"),
    [("csat", 1, True), ("csat", 2, True), ("csat", 3, False), ("nps", 6, True), ("nps", 7, False),
     ("ces", 1, False)],  # CES is not looked at unless ces_max is set
)  # fmt: skip
def test_bottom_box_rating_fires_at_or_below_each_metrics_threshold(metric, score, fires):
    found = fire("bottom_box_rating", ctx(surveys={metric: survey(score, 1)}))

    assert (found is not None) is fires
    if fires:
        assert found == {"metric": metric.upper(), "score": score, "day": "2026-11-22"}


def test_bottom_box_rating_older_than_the_window_does_not_fire():
    assert fire("bottom_box_rating", ctx(surveys={"csat": survey(1, 7.5)})) is None
    assert fire("bottom_box_rating", ctx(surveys={"csat": survey(1, 7.5)}), days=8) is not None


def test_bottom_box_rating_with_ces_configured_and_the_latest_bad_one_named():
    context = ctx(surveys={"ces": survey(2, 3), "nps": survey(0, 1)})

    assert fire("bottom_box_rating", context, ces_max=2)["metric"] == "NPS"
    assert fire("bottom_box_rating", ctx(surveys={"ces": survey(2, 3)}), ces_max=2)["metric"] == "CES"


# --- repeat_contact ---------------------------------------------------------------------------------------


def test_third_contact_on_one_thread_within_72_hours_fires():
    context = ctx(open_threads=[thread(entry(60 * 50), entry(60 * 20), entry(5))])

    assert fire("repeat_contact", context) == {"count": 3, "objective": "billing", "thread_id": "t1"}


def test_messages_of_one_session_are_one_contact_and_replies_do_not_count():
    chat = [entry(m, channel="chat") for m in (20, 15, 10, 5)]
    context = ctx(open_threads=[thread(*chat, entry(3, direction="outbound"), entry(60 * 24))])

    assert fire("repeat_contact", context) is None  # 2 contacts: the chat, and the SMS a day ago
    assert fire("repeat_contact", context, session_minutes=0)["count"] == 5


def test_messages_exactly_session_minutes_apart_are_separate_contacts():
    """Less than 30 minutes apart is one contact: exactly 30 apart was counted as one too."""
    context = ctx(open_threads=[thread(entry(60), entry(30), entry(0))])

    assert fire("repeat_contact", context)["count"] == 3
    assert fire("repeat_contact", context, session_minutes=31) is None  # one contact


def test_automatic_replies_are_not_contacts():
    """Three out-of-office replies hours apart counted as three contacts by the customer."""
    auto = [{**entry(m, channel="email"), "details": {"automated": "auto-reply"}} for m in (300, 180, 60)]
    context = ctx(open_threads=[thread(*auto)])

    assert fire("repeat_contact", context) is None
    assert (
        fire("repeat_contact", ctx(open_threads=[thread(*auto, entry(200), entry(100), entry(1))]))["count"]
        == 3
    )
    # Nor is an automatic reply their latest contact for use-preferred-channel.
    preferring_sms = {"preferences": {"channel": "sms"}}
    context = ctx(customer=preferring_sms, open_threads=[thread(entry(120), *auto)], reachable={})
    assert fire("prefers_other_channel", context) is None


def test_a_session_is_per_channel_so_switching_channels_and_back_is_not_a_new_contact():
    # SMS, WhatsApp, SMS within a minute: one contact on each channel, two in all (it counted three).
    context = ctx(open_threads=[thread(entry(2), entry(1.5, channel="whatsapp"), entry(1))])

    assert fire("repeat_contact", context) is None
    assert fire("repeat_contact", context, contacts=2)["count"] == 2


def test_contacts_older_than_the_window_do_not_count():
    context = ctx(open_threads=[thread(entry(60 * 80), entry(60 * 20), entry(5))])

    assert fire("repeat_contact", context) is None
    assert fire("repeat_contact", context, hours=96)["count"] == 3


def test_contacts_spread_over_two_threads_are_not_one_objective():
    context = ctx(
        open_threads=[thread(entry(60), entry(30)), {**thread(entry(10), topic="tech"), "id": "t2"}]
    )

    assert fire("repeat_contact", context) is None


# --- callback_pending_or_failed -----------------------------------------------------------------------------


def test_a_pending_callback_is_mentioned_with_its_failed_attempts():
    pending = {"id": "cb1", "state": "scheduled", "due_at": NOW + timedelta(minutes=30),
               "outcomes": [{"outcome": "no_answer"}]}  # fmt: skip

    found = fire("callback_pending_or_failed", ctx(pending_callbacks=[pending]))

    assert found["state"] == "pending"
    assert (
        found["detail"] == "scheduled, due 2026-11-23 15:30 UTC, after 1 attempt(s) that did not reach them"
    )


def test_a_recently_expired_callback_is_mentioned_as_failed():
    expired = entry(90, direction="", channel="callback", type_="callback.expired")

    found = fire("callback_pending_or_failed", ctx(open_threads=[thread(expired)]))

    assert found == {"state": "failed", "detail": "it expired at 2026-11-23 13:30 UTC without reaching them"}
    assert fire("callback_pending_or_failed", ctx(open_threads=[thread(expired)]), failed_hours=1) is None


def test_an_expired_callback_on_a_thread_gone_idle_is_still_mentioned():
    expired = entry(90, direction="", channel="callback", type_="callback.expired")

    found = fire("callback_pending_or_failed", ctx(idle_threads=[thread(expired)]))

    assert found == {"state": "failed", "detail": "it expired at 2026-11-23 13:30 UTC without reaching them"}


def test_an_expired_callback_followed_by_one_that_reached_them_is_not_mentioned():
    expired = entry(300, direction="", channel="callback", type_="callback.expired")
    on = {"open_threads": [thread(expired)]}

    assert fire("callback_pending_or_failed", ctx(**on, callback_reached_at=NOW - timedelta(hours=1))) is None
    # As the context renders it, too.
    assert fire("callback_pending_or_failed", ctx(**on, callback_reached_at="2026-11-23T14:00:00Z")) is None
    found = fire("callback_pending_or_failed", ctx(**on, callback_reached_at=NOW - timedelta(minutes=400)))
    assert found["state"] == "failed"


def test_a_completed_callback_counts_only_as_the_context_says_it_reached_them():
    """`callback_reached_at` covers every thread, resolved ones too, which carry no timeline in the context:
    a completed callback's entry on an open thread is not read by itself (the answer names it anyway)."""
    expired = entry(300, direction="", channel="callback", type_="callback.expired")
    completed = entry(60, direction="", channel="callback", type_="callback.completed")

    found = fire("callback_pending_or_failed", ctx(open_threads=[thread(expired), thread(completed)]))
    assert found["state"] == "failed"


def test_no_callback_no_mention():
    completed = entry(60, direction="", channel="callback", type_="callback.completed")

    assert fire("callback_pending_or_failed", ctx(open_threads=[thread(completed)])) is None


# --- whatsapp_window_closing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("left", "fires"), [(40, True), (60, True), (61, False), (0, False)])
def test_whatsapp_window_closing_within_the_hour_fires(left, fires):
    context = ctx(reachable={"whatsapp": {"open": left > 0, "until": NOW + timedelta(minutes=left)}})

    found = fire("whatsapp_window_closing", context)

    assert (found is not None) is fires
    if fires:
        assert found["minutes_left"] == left


def test_a_closed_whatsapp_window_does_not_fire():
    assert fire("whatsapp_window_closing", ctx()) is None


# --- preferences --------------------------------------------------------------------------------------------


def test_a_preferred_channel_other_than_the_latest_contacts_fires():
    context = ctx(
        customer={"preferences": {"channel": "email"}}, open_threads=[thread(entry(5, channel="sms"))]
    )

    assert fire("prefers_other_channel", context) == {"channel": "email", "current_channel": "sms"}


def test_a_preferred_channel_they_are_using_does_not_fire():
    context = ctx(
        customer={"preferences": {"channel": "SMS"}}, open_threads=[thread(entry(5, channel="sms"))]
    )

    assert fire("prefers_other_channel", context) is None
    assert fire("prefers_other_channel", ctx()) is None
    assert fire("prefers_other_channel", ctx(customer={"preferences": {"channel": 3}})) is None


def test_a_preferred_channel_closed_to_them_now_is_not_recommended():
    """It recommended SMS after they texted STOP, and WhatsApp outside its 24 h window."""
    latest = [thread(entry(5, channel="email"))]
    sms_closed = {"sms": {"open": False, "until": None}}
    context = ctx(customer={"preferences": {"channel": "SMS"}}, open_threads=latest, reachable=sms_closed)
    assert fire("prefers_other_channel", context) is None
    context = ctx(customer={"preferences": {"channel": "whatsapp"}}, open_threads=latest)  # window closed
    assert fire("prefers_other_channel", context) is None
    # Voice with no zone known is open: null (not known), so it is still recommended; so is an open one.
    voice = {"voice": {"open": None}, "sms": {"open": True}}
    for channel in ("voice", "sms"):
        context = ctx(customer={"preferences": {"channel": channel}}, open_threads=latest, reachable=voice)
        assert fire("prefers_other_channel", context) == {"channel": channel, "current_channel": "email"}


def test_a_preferred_channel_under_another_key():
    context = ctx(
        customer={"preferences": {"contact_by": "whatsapp"}},
        reachable={"whatsapp": {"open": True, "until": (NOW + timedelta(hours=2)).isoformat()}},
    )

    assert fire("prefers_other_channel", context, key="contact_by") == {
        "channel": "whatsapp", "current_channel": "none yet",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("language", "default", "fires"),
    [
        ("de", "en", True),
        ("en-GB", "en", False),
        ("pt_BR", "pt", False),
        (None, "en", False),
        ("en", "de", True),
    ],
)
def test_a_language_other_than_the_default_fires(language, default, fires):
    found = fire("prefers_other_language", ctx(customer={"language": language}), default_language=default)

    assert (found is not None) is fires


# --- birthday_today -----------------------------------------------------------------------------------------


def test_birthday_today_in_the_customers_time_zone():
    # 15:00 UTC on 23 November is already 24 November in Tokyo.
    tokyo = ctx(customer={"birthday": date(1990, 11, 24), "timezone": "Asia/Tokyo"})
    utc = ctx(customer={"birthday": "1990-11-23"})

    assert fire("birthday_today", tokyo, now=NOW.replace(hour=16)) == {"local_date": "2026-11-24"}
    assert fire("birthday_today", tokyo, now=NOW.replace(hour=14)) is None
    assert fire("birthday_today", utc) == {"local_date": "2026-11-23"}
    assert fire("birthday_today", ctx()) is None


def test_a_29_february_birthday_is_kept_on_28_february_in_other_years():
    context = ctx(customer={"birthday": "2000-02-29"})

    assert fire("birthday_today", context, now=datetime(2027, 2, 28, 12, tzinfo=UTC)) is not None
    assert fire("birthday_today", context, now=datetime(2028, 2, 28, 12, tzinfo=UTC)) is None
    assert fire("birthday_today", context, now=datetime(2028, 2, 29, 12, tzinfo=UTC)) is not None


# --- retention_risk -----------------------------------------------------------------------------------------


def ltv(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """The context's lifetime_value: per currency, a decimal string (from the customer's outcomes)."""
    return [{"currency": currency, "value": value} for currency, value in pairs]


def test_high_lifetime_value_with_a_recent_cancellation_thread_fires():
    context = ctx(lifetime_value=ltv(("USD", "2500.0000")), open_threads=[thread(topic="cancellation")])

    assert fire("retention_risk", context) == {"lifetime_value": "2500 USD", "topic": "cancellation"}


def test_retention_reads_the_lifetime_value_in_its_currency_only():
    intent = [thread(topic="cancellation")]
    euros = ctx(lifetime_value=ltv(("EUR", "5000.0000"), ("USD", "10.0000")), open_threads=intent)

    assert fire("retention_risk", euros) is None  # 10 USD; the euros are never converted
    assert fire("retention_risk", euros, currency="EUR") == {
        "lifetime_value": "5000 EUR",
        "topic": "cancellation",
    }
    assert fire("retention_risk", ctx(lifetime_value=ltv(("USD", "999.9999")), open_threads=intent)) is None
    assert (
        fire("retention_risk", ctx(lifetime_value=ltv(("USD", "1000.0000")), open_threads=intent)) is not None
    )


def test_retention_does_not_fire_without_a_lifetime_value_or_a_recent_intent():
    old = NOW - timedelta(days=40)
    intent = [thread(topic="Cancellation")]
    high = ltv(("USD", "5000.0000"))

    assert fire("retention_risk", ctx(open_threads=intent)) is None  # no outcome recorded yet
    assert fire("retention_risk", ctx(lifetime_value=ltv(("USD", "500.0000")), open_threads=intent)) is None
    assert (
        fire("retention_risk", ctx(lifetime_value=[{"currency": "USD", "value": "NaN"}], open_threads=intent))
        is None
    )
    assert (
        fire(
            "retention_risk", ctx(lifetime_value=[{"currency": "USD", "value": "lots"}], open_threads=intent)
        )
        is None
    )
    resolved = ctx(lifetime_value=high, recently_resolved=[thread(topic="cancellation", last_activity=old)])
    assert fire("retention_risk", resolved) is None
    assert fire("retention_risk", resolved, days=45) is not None
    assert fire("retention_risk", ctx(lifetime_value=high, open_threads=intent)) is not None


# --- The rules file -----------------------------------------------------------------------------------------


def test_the_shipped_rules_file_loads_and_covers_every_predicate():
    shipped = rules.load_rules(settings.THREADLINE_NBA_RULES)

    assert {r.predicate for r in shipped.rules} == set(rules.PREDICATES)
    assert shipped.limit == 3


def test_rules_are_ranked_by_priority_then_id_and_cut_to_the_limit():
    text = json.dumps({"limit": 2, "rules": [
        {"id": "b-lang", "predicate": "prefers_other_language", "priority": 5, "do": "{language}",
         "why": "w"},
        {"id": "a-lang", "predicate": "prefers_other_language", "priority": 5, "do": "x",
         "why": "{default_language}"},
        {"id": "z-birthday", "predicate": "birthday_today", "priority": 9, "do": "Cake.",
         "why": "{local_date}"},
        {"id": "top-window", "predicate": "whatsapp_window_closing", "priority": 99, "do": "x", "why": "y"},
    ]})  # fmt: skip
    context = ctx(customer={"language": "fr", "birthday": "1990-11-23"})

    actions = evaluate(parse_rules(text), Situation(context, NOW, "UTC"))

    assert [a["id"] for a in actions] == ["z-birthday", "a-lang"]
    assert actions[0] == {"id": "z-birthday", "priority": 9, "do": "Cake.", "why": "2026-11-23",
                          "facts": {"local_date": "2026-11-23"}}  # fmt: skip
    assert actions[1]["why"] == "en"


def _rule(**overrides) -> dict:
    return {"id": "r1", "predicate": "birthday_today", "priority": 1, "do": "d", "why": "w", **overrides}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        (json.dumps([]), "(top level)"),
        (json.dumps({"rules": [_rule(predicate="moon_phase")]}), "unknown predicate 'moon_phase'"),
        (json.dumps({"rules": [_rule(params={"days": 3})]}), "rules[0] (r1): params.days: Extra inputs"),
        (json.dumps({"rules": [_rule(predicate="repeat_contact", params={"hours": "72"})]}), "params.hours"),
        (json.dumps({"rules": [_rule(predicate="repeat_contact", params={"hours": 0})]}), "params.hours"),
        (json.dumps({"rules": [_rule(), _rule()]}), "the id 'r1' is used twice"),
        (json.dumps({"rules": [_rule(id="Bad Id")]}), "rules.0.id"),
        (json.dumps({"rules": [_rule(priority=1.5)]}), "rules.0.priority"),
        (json.dumps({"rules": [_rule(do="")]}), "rules.0.do"),
        (json.dumps({"rules": [_rule(why="{score}")]}), "rules[0] (r1).why: {score} is not one of this"),
        (json.dumps({"rules": [_rule(why="{local_date.__class__}")]}), "is not one of this rule's fields"),
        (json.dumps({"rules": [_rule(why="{local_date:>10}")]}), "is not one of this rule's fields"),
        (json.dumps({"rules": [_rule(why="{}")]}), "is not one of this rule's fields"),
        (json.dumps({"rules": [_rule(why="a } b")]}), "write a brace as"),
        (json.dumps({"rules": [_rule(unknown=1)]}), "rules.0.unknown"),
        (json.dumps({"rules": [_rule()], "limit": 0}), "limit"),
        (json.dumps({"rules": [_rule(predicate="retention_risk", params={"min_lifetime_value": NAN})]}),
         "params.min_lifetime_value"),
    ],
)  # fmt: skip
def test_an_invalid_rules_file_is_refused_saying_what_is_wrong(text, message):
    with pytest.raises(InvalidRules) as refused:
        parse_rules(text)

    assert message in str(refused.value)


def test_a_bad_rules_file_fails_the_start_up_check(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [_rule(predicate="moon_phase")]}))
    missing = tmp_path / "nowhere.json"

    try:
        with override_settings(THREADLINE_NBA_RULES=str(bad)):
            errors = rules.check_rules_file()
            with pytest.raises(SystemCheckError, match="unknown predicate 'moon_phase'"):
                call_command("check")
            # uvicorn and Celery run no system checks: the app refuses to start all the same.
            with pytest.raises(ImproperlyConfigured) as refused_at_start:
                apps.get_app_config("nba").ready()
        with override_settings(THREADLINE_NBA_RULES=str(missing)):
            assert "cannot read it" in rules.check_rules_file()[0].msg
    finally:
        rules.load_rules.cache_clear()

    assert [e.id for e in errors] == ["nba.E001"]
    assert "unknown predicate 'moon_phase'" in str(refused_at_start.value)
    assert str(bad) in errors[0].msg
    assert rules.check_rules_file() == []


def test_an_operator_changes_the_rules_by_pointing_the_setting_at_another_file(tmp_path, db):
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps({"rules": [_rule(id="always-birthday", do="Say hi.", why="it is {local_date}")]})
    )

    with override_settings(THREADLINE_NBA_RULES=str(path)):
        from interactions.nba.selectors import next_best_actions

        actions = next_best_actions(ctx(customer={"birthday": "1980-11-23"}), NOW)

    assert [a["id"] for a in actions] == ["always-birthday"]


def call_entry(minutes_ago: float, ref: str | None, type_: str = "call.started", position: int = 1) -> dict:
    details = {"conversation_ref": ref} if ref else {}
    return {**entry(minutes_ago, channel="voice", type_=type_), "details": details, "position": position}


def test_a_call_is_one_contact_whatever_its_entries():
    """A 45-minute call's start and end were two contacts (the start and the end 45 minutes apart), so a
    long call and one SMS made three."""
    long_call = [call_entry(100, "CA1"), call_entry(55, "CA1", "call.ended")]
    context = ctx(open_threads=[thread(*long_call, entry(5))])

    assert fire("repeat_contact", context) is None
    assert fire("repeat_contact", context, contacts=2)["count"] == 2


def test_calls_close_together_are_each_a_contact():
    """Cut off three times and calling back at once: three calls within 25 minutes were one session."""
    calls = [
        e
        for i, ref in enumerate(["CA1", "CA2", "CA3"])
        for e in (call_entry(30 - 10 * i, ref), call_entry(25 - 10 * i, ref, "call.ended"))
    ]

    assert fire("repeat_contact", ctx(open_threads=[thread(*calls)]))["count"] == 3


def test_a_call_without_a_ref_is_counted_by_its_start():
    calls = [call_entry(30, None), call_entry(25, None, "call.ended"), call_entry(10, None)]

    assert fire("repeat_contact", ctx(open_threads=[thread(*calls)]), contacts=2)["count"] == 2


def test_the_latest_of_two_contacts_at_one_time_is_the_later_in_the_log():
    """Two contacts stamped the same second were told apart by their channel's name ("whatsapp" > "sms")."""
    same = NOW - timedelta(minutes=1)
    whatsapp = {**entry(1, channel="whatsapp"), "occurred_at": same, "position": 10}
    sms = {**entry(1, channel="sms"), "occurred_at": same, "position": 11}
    prefers = {"preferences": {"channel": "whatsapp"}}

    found = fire(
        "prefers_other_channel", ctx(customer=prefers, open_threads=[thread(whatsapp, sms)], reachable={})
    )
    assert found is not None and found["current_channel"] == "sms"
    earlier_sms = {**sms, "position": 9}
    assert (
        fire("prefers_other_channel", ctx(customer=prefers, open_threads=[thread(whatsapp, earlier_sms)]))
        is None
    )

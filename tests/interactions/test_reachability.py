"""Where each customer can be reached now (`reachable` in the context): WhatsApp's 24-hour window, SMS
opt-out keywords, hard e-mail bounces and calling hours, projected from the log and read at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from interactions.context.selectors import context_get
from interactions.customers.selectors import customer_get_by_identifier
from interactions.models import Customer
from interactions.reachability.keywords import OPT_IN, OPT_OUT, sms_keyword
from interactions.reachability.models import ReachFact
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

PHONE = "tel:+15551234567"
MAIL = "mailto:jane@example.com"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(delta: timedelta = timedelta(0)) -> str:
    return (T0 + delta).isoformat().replace("+00:00", "Z")


def reachable(identifier: str, now: datetime) -> dict:
    return context_get(customer_get_by_identifier(identifier), now=now)["reachable"]


def whatsapp(api, text: str = "hi", when: timedelta = timedelta(0), **data) -> dict:
    return post(api, subject=PHONE, time=at(when), data={"channel": "whatsapp", "text": text, **data})


def sms(api, text: str, when: timedelta = timedelta(0), subject: str = PHONE) -> dict:
    return post(api, subject=subject, time=at(when), data={"channel": "sms", "text": text})


def email(api, when: timedelta = timedelta(0), subject: str = MAIL, **data) -> dict:
    return post(api, subject=subject, time=at(when), data={"channel": "email", "text": "hello", **data})


# --- WhatsApp's customer-service window -------------------------------------------------------------------


def test_whatsapp_is_open_until_24_hours_after_the_last_inbound_message(api):
    whatsapp(api, when=timedelta(hours=-3))
    whatsapp(api, when=timedelta(hours=-1))

    channel = reachable(PHONE, T0)["whatsapp"]

    assert channel["open"] is True
    assert channel["until"] == T0 + timedelta(hours=23)
    assert channel["why"].startswith("closes in 23 h")
    assert channel["identifiers"] == [
        {"identifier": PHONE, "open": True, "until": T0 + timedelta(hours=23), "at": T0 - timedelta(hours=1),
         "why": channel["why"]},
    ]  # fmt: skip


def test_whatsapp_window_says_how_many_minutes_are_left(api):
    whatsapp(api, when=timedelta(hours=-23, minutes=-20))

    channel = reachable(PHONE, T0)["whatsapp"]

    assert channel["open"] is True
    assert channel["why"].startswith("closes in 40 min")


def test_whatsapp_window_closes_24_hours_after_and_a_late_older_event_does_not_reopen_it(api):
    whatsapp(api, when=timedelta(hours=-25))
    whatsapp(api, when=timedelta(hours=-30))  # arrives late, happened earlier

    channel = reachable(PHONE, T0)["whatsapp"]

    assert channel["open"] is False
    assert channel["until"] is None
    assert channel["identifiers"][0]["until"] == T0 - timedelta(hours=1)
    assert "template" in channel["why"]


def test_an_automated_whatsapp_message_or_an_sms_opens_no_window(api):
    whatsapp(api, when=timedelta(hours=-1), automated="auto-reply")
    sms(api, "hello", when=timedelta(hours=-1))

    channel = reachable(PHONE, T0)["whatsapp"]

    assert channel["open"] is False
    assert channel["identifiers"] == []


# --- SMS opt-out and opt-in keywords ----------------------------------------------------------------------


@pytest.mark.parametrize("text", [*sorted(OPT_OUT), " stop ", "Stop", "\tunsubscribe\n"])
def test_an_opt_out_keyword_as_the_whole_message_opts_the_number_out(api, text):
    sms(api, text)

    channel = reachable(PHONE, T0 + timedelta(minutes=1))["sms"]

    assert channel["open"] is False
    assert channel["identifiers"][0]["identifier"] == PHONE
    assert channel["identifiers"][0]["open"] is False
    assert text.strip().upper() in channel["identifiers"][0]["why"]


@pytest.mark.parametrize("text", ["please stop", "stop it", "STOP!", "st op", "\u017ftop", "stopp"])
def test_a_message_that_only_contains_a_keyword_does_not_opt_out(api, text):
    sms(api, text)

    assert reachable(PHONE, T0)["sms"]["open"] is True


def test_keyword_lists_follow_twilios_defaults():
    assert {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"} == OPT_OUT
    assert {"START", "YES", "UNSTOP"} == OPT_IN
    assert sms_keyword(" yes ") == ("in", "YES")
    assert sms_keyword("hello") is None


@pytest.mark.parametrize("word", sorted(OPT_IN))
def test_an_opt_in_keyword_after_an_opt_out_opts_the_number_back_in(api, word):
    sms(api, "STOP", when=timedelta(minutes=-10))
    sms(api, word.lower(), when=timedelta(minutes=-5))

    channel = reachable(PHONE, T0)["sms"]

    assert channel["open"] is True
    assert channel["identifiers"][0]["why"] == "opted in again"


def test_opt_out_and_in_are_decided_by_when_they_happened_not_when_they_arrived(api):
    sms(api, "STOP", when=timedelta(minutes=-5))
    sms(api, "START", when=timedelta(minutes=-10))  # arrives after, happened before

    assert reachable(PHONE, T0)["sms"]["open"] is False


def test_a_time_after_the_event_arrived_counts_as_its_arrival(api):
    """A sender's clock a year ahead: its START must not outrank the STOP the customer sends now, nor its
    WhatsApp message hold the window open for a year."""
    next_year = (timezone.now() + timedelta(days=365)).isoformat()
    post(api, subject=PHONE, time=next_year, data={"channel": "sms", "text": "START"})
    post(api, subject=PHONE, time=timezone.now().isoformat(), data={"channel": "sms", "text": "STOP"})
    post(api, subject=PHONE, time=next_year, data={"channel": "whatsapp", "text": "hi"})

    now = timezone.now()
    assert reachable(PHONE, now)["sms"]["open"] is False
    assert reachable(PHONE, now + timedelta(hours=25))["whatsapp"]["open"] is False


def test_sms_stays_open_on_another_number_when_one_opted_out(api):
    other = "tel:+15557654321"
    sms(api, "STOP")
    post(api, subject=PHONE, type="customer.profile_updated", data={"identifiers": [other]})

    channel = reachable(PHONE, T0 + timedelta(minutes=1))["sms"]

    assert channel["open"] is True
    assert [e["identifier"] for e in channel["identifiers"]] == [PHONE]
    assert channel["why"] == f"{other} has not opted out"


BRAZIL = "tel:+5511987654321"
BRAZIL_OLDER = "tel:+551187654321"  # what a WhatsApp id without the ninth digit names beside the number


def test_the_older_form_of_a_brazilian_number_is_that_number_not_a_second_one(api):
    """A WhatsApp message from an id without the ninth digit links the older form beside the number: after
    a STOP from the number, SMS stayed open "because tel:+551187654321 has not opted out"."""
    whatsapp_in = {"channel": "whatsapp", "text": "oi", "identifiers": [BRAZIL_OLDER]}
    post(api, subject=BRAZIL, time=at(timedelta(minutes=-5)), data=whatsapp_in)
    sms(api, "STOP", subject=BRAZIL)

    channels = reachable(BRAZIL, T0 + timedelta(minutes=1))

    assert channels["sms"]["open"] is False
    assert channels["sms"]["why"] == "every number they have has opted out"
    assert [e["identifier"] for e in channels["sms"]["identifiers"]] == [BRAZIL]
    assert channels["whatsapp"]["open"] is True
    assert [e["identifier"] for e in channels["whatsapp"]["identifiers"]] == [BRAZIL]


def test_a_stop_recorded_on_the_older_form_still_holds_for_the_number(api):
    """Events from before ids were read as numbers recorded facts on the older form: they are the number's,
    each the later of the two forms'."""
    sms(api, "STOP", when=timedelta(minutes=-10), subject=BRAZIL_OLDER)
    post(api, subject=BRAZIL, time=at(), data={"channel": "sms", "text": "hi", "identifiers": [BRAZIL_OLDER]})

    channel = reachable(BRAZIL, T0 + timedelta(minutes=1))["sms"]
    assert channel["open"] is False and [e["identifier"] for e in channel["identifiers"]] == [BRAZIL]
    assert channel["identifiers"][0]["why"].startswith("opted out: they texted STOP")

    sms(api, "START", when=timedelta(minutes=2), subject=BRAZIL)
    channel = reachable(BRAZIL, T0 + timedelta(minutes=3))["sms"]
    assert channel["open"] is True and channel["identifiers"][0]["why"] == "opted in again"


def test_a_customer_without_a_phone_number_has_no_sms_voice_or_whatsapp(api):
    email(api)

    answer = reachable(MAIL, T0)

    assert answer["sms"] == {
        "open": False, "until": None, "next_open": None, "why": "no phone number known", "identifiers": [],
    }  # fmt: skip
    assert answer["voice"]["open"] is False
    assert answer["whatsapp"]["open"] is False


# --- Hard e-mail bounces ----------------------------------------------------------------------------------


def bounce(api, kind: str, recipients: list[str], when: timedelta = timedelta(0)) -> dict:
    return email(
        api,
        when=when,
        subject="mailto:mailer-daemon@example.net",
        automated="bounce",
        bounce=kind,
        bounced_recipients=recipients,
    )


def test_a_hard_bounce_closes_the_address_until_the_customer_writes_from_it(api):
    email(api, when=timedelta(hours=-2))
    bounce(api, "hard", ["Jane@Example.com"], when=timedelta(hours=-1))

    closed = reachable(MAIL, T0)["email"]
    email(api, when=timedelta(minutes=-1))
    reopened = reachable(MAIL, T0)["email"]

    assert closed["open"] is False
    assert closed["identifiers"][0] == {
        "identifier": MAIL, "open": False, "until": None, "at": T0 - timedelta(hours=1),
        "why": "hard-bounced; an e-mail from them from this address clears it",
    }  # fmt: skip
    assert reopened["open"] is True
    assert reopened["identifiers"][0]["at"] == T0 - timedelta(minutes=1)


def test_a_soft_bounce_or_an_unparseable_recipient_changes_nothing(api):
    email(api, when=timedelta(hours=-2))
    bounce(api, "soft", [MAIL], when=timedelta(hours=-1))
    bounce(api, "hard", ["not an address"], when=timedelta(hours=-1))

    assert reachable(MAIL, T0)["email"]["open"] is True
    assert not ReachFact.objects.filter(email_bounced_at__isnull=False).exists()


def test_an_earlier_inbound_email_arriving_late_does_not_clear_a_bounce(api):
    email(api, when=timedelta(hours=-3))
    bounce(api, "hard", [MAIL], when=timedelta(hours=-1))
    email(api, when=timedelta(hours=-2))  # arrives late

    assert reachable(MAIL, T0)["email"]["open"] is False


def test_a_bounce_is_not_counted_as_the_bounce_sender_writing(api):
    bounce(api, "hard", [MAIL])

    assert not ReachFact.objects.filter(address="mailto:mailer-daemon@example.net").exists()


# --- Calling hours ----------------------------------------------------------------------------------------


def test_voice_without_a_time_zone_says_it_cannot_tell(api):
    sms(api, "hello")

    voice = reachable(PHONE, T0)["voice"]

    assert voice["open"] is None
    assert "time zone is not known" in voice["why"]


def test_voice_with_a_zone_the_tz_database_does_not_know_says_it_cannot_tell(api):
    sms(api, "hello")
    Customer.objects.update(timezone="Mars/Olympus_Mons")  # accepted once, gone from tzdata since

    voice = reachable(PHONE, T0)["voice"]

    assert voice["open"] is None
    assert "'Mars/Olympus_Mons' is not known here" in voice["why"]


@override_settings(THREADLINE_CUSTOMER_CALLING_HOURS="daily 08:00-21:00")
def test_voice_inside_calling_hours_is_open_until_they_end(api):
    sms(api, "hello")
    post(api, subject=PHONE, type="customer.profile_updated", data={"timezone": "America/New_York"})

    # 10:00 UTC is 05:00 in New York (EST): closed until 08:00 local, 13:00 UTC.
    closed = reachable(PHONE, T0)["voice"]
    # 15:00 UTC is 10:00 in New York: open until 21:00 local, 02:00 UTC the next day.
    opened = reachable(PHONE, T0 + timedelta(hours=5))["voice"]

    assert closed["open"] is False
    assert closed["next_open"] == T0 + timedelta(hours=3)
    assert "05:00 for them" in closed["why"]
    assert opened["open"] is True
    assert opened["until"] == T0 + timedelta(hours=16)
    assert opened["next_open"] is None


# --- Merges, rebuilds and the API -------------------------------------------------------------------------


def test_a_merge_carries_both_customers_facts_to_the_survivor(api):
    sms(api, "STOP", when=timedelta(hours=-2))
    bounce(api, "hard", [MAIL], when=timedelta(hours=-2))
    email(api, when=timedelta(hours=-3))  # a second customer, older than the bounce
    whatsapp(api, when=timedelta(hours=-1))
    # One event naming both identifiers: the two customers are one.
    post(api, subject=PHONE, time=at(timedelta(minutes=-30)), data={"channel": "sms", "text": "it's me",
                                                                      "identifiers": [MAIL]})  # fmt: skip

    assert Customer.objects.filter(merged_into__isnull=False).count() == 1
    for identifier in (PHONE, MAIL):
        answer = reachable(identifier, T0)
        assert answer["sms"]["open"] is False
        assert answer["email"]["open"] is False
        assert answer["whatsapp"]["open"] is True


def test_a_rebuild_gives_the_same_facts_as_applying_events_one_by_one(api):
    sms(api, "STOP", when=timedelta(hours=-2))
    sms(api, "START", when=timedelta(hours=-1))
    whatsapp(api, when=timedelta(hours=-1))
    bounce(api, "hard", [MAIL], when=timedelta(hours=-2))
    email(api, when=timedelta(hours=-1))
    before = list(ReachFact.objects.order_by("address").values())

    call_command("rebuild_projections", verbosity=0)

    assert list(ReachFact.objects.order_by("address").values()) == before
    assert len(before) == 2


def test_the_context_api_carries_reachable_for_every_channel(api):
    now = datetime.now(UTC)
    sent = (now - timedelta(hours=1)).isoformat()
    post(api, subject=PHONE, time=sent, data={"channel": "whatsapp", "text": "hi"})

    body = context(api, PHONE)

    assert set(body["reachable"]) == {"whatsapp", "sms", "email", "voice"}
    whatsapp_ = body["reachable"]["whatsapp"]
    assert whatsapp_["open"] is True
    until = datetime.fromisoformat(whatsapp_["until"].replace("Z", "+00:00"))
    assert until == datetime.fromisoformat(sent) + timedelta(hours=24)
    assert body["reachable"]["email"]["why"] == "no e-mail address known"

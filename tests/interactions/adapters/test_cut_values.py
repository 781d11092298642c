"""A value an adapter cuts to its limit never keeps part of a card number.

Adapters cut long provider values (a body to 20,000 characters, a name to 128) before the pipeline masks
card numbers. A number that straddled the cut used to keep every digit but its last, which no longer
passes Luhn, so masking left it alone; and the last digit is a check digit, so the whole number could be
told. Each test places a card number across one cut and looks at what the pipeline would store.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from interactions.adapters.email.events import email_event
from interactions.adapters.email.message import parse_bytes
from interactions.adapters.meta.translate import translate
from interactions.adapters.twilio.translate import message_received
from interactions.catalogue.schemas import SHORT_MAX, TEXT_MAX
from interactions.privacy.redaction import cut, redact_text
from tests.corpora import cards
from tests.interactions.adapters import meta_payloads as m
from tests.interactions.adapters import twilio_payloads as tw

PAN = "4111 1111 1111 1111"
ALL_BUT_THE_CHECK_DIGIT = len(PAN) - 1


def stored(value: str) -> str:
    """What the pipeline's redaction pass keeps of a value."""
    return redact_text(value)


def straddling(limit: int, filler: str = "x") -> str:
    """Text whose card number starts so that the cut at `limit` falls before its check digit."""
    return filler * (limit - ALL_BUT_THE_CHECK_DIGIT) + PAN + " thanks"


def leaks(value: str) -> bool:
    return "4111 1111 1111 111" in value or bool(cards.numbers_in(value))


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("text", f"From: a@example.com\r\n\r\n{straddling(TEXT_MAX)}"),
        ("subject_line", f"From: a@example.com\r\nSubject: {straddling(SHORT_MAX, 'y')}\r\n\r\nhi"),
        ("sender_name", f'From: "{straddling(128, "N")}" <a@example.com>\r\n\r\nhi'),
        ("to", f"From: a@example.com\r\nTo: {'t' * 305}.4111111111111111@example.com\r\n\r\nhi"),
        ("cc", f"From: a@example.com\r\nCc: {'c' * 305}.4111111111111111@example.com\r\n\r\nhi"),
    ],
)
def test_an_email_value_cut_to_its_limit_keeps_no_part_of_a_card_number(field, raw):
    event = email_event(parse_bytes(raw.encode()), source="/connections/email/t", now=timezone.now())

    value = event["data"][field]
    value = value[0] if isinstance(value, list) else value  # To and Cc are lists of addresses

    assert not leaks(stored(value)), value[-40:]
    assert not any(run in stored(value) for run in ("4111111111111", "41111111111111"))
    assert value.strip('"').startswith(("x" * 100, "y" * 100, "N" * 100, "t" * 100, "c" * 100))


def test_a_whatsapp_text_and_name_cut_to_their_limits_keep_no_part_of_a_card_number():
    payload = m.whatsapp(
        m.wa_value(
            messages=[m.wa_message(text={"body": straddling(TEXT_MAX)})],
            contacts=[m.wa_contact(name=straddling(128, "N"))],
        )
    )

    (event,) = translate(payload, source="/hooks/meta/main").events

    assert not leaks(stored(event["data"]["text"]))
    assert not leaks(stored(event["data"]["sender_name"]))


def test_a_twilio_profile_name_cut_to_its_limit_keeps_no_part_of_a_card_number():
    params = tw.inbound_whatsapp(ProfileName=straddling(128, "N"))

    (event,) = message_received([(k, [v]) for k, v in params.items()], source="/hooks/twilio/t").events

    assert not leaks(stored(event["data"]["sender_name"]))


def test_cut_backs_off_over_the_digits_at_the_cut_and_keeps_whole_what_fits():
    assert cut("short", 10) == "short"
    assert cut("pay 4111 1111 1111 1111", 20) == "pay"  # the number at the cut goes whole
    assert cut("4111 1111 1111 1111 ok", 22) == "4111 1111 1111 1111 ok"  # it fits: the pipeline masks it
    # Nothing but digits and separators: masked, then cut, rather than cut to nothing.
    assert cut("4111 1111 1111 1111 4111", 17) == redact_text("4111 1111 1111 1111 4111")[:17]

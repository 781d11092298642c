"""The redaction pass: card numbers masked in values whatever their format, found in keys, security codes
masked; the same pass over an event's data and metadata."""

import pytest

from hub.events import NewEvent
from interactions.privacy.redaction import (
    CardNumberRefused,
    excerpt,
    holds_card,
    luhn_valid,
    redact,
    redact_event,
    redact_text,
    shown_back,
)

FULL_WIDTH = "\uff14" + "\uff11" * 15  # 4111111111111111 in full-width digits
# Mobile numbers in assigned ranges whose 13 digits pass Luhn, as one phone number in ten does.
LUHN_VALID_PHONES = ["+4915123456704", "+8613800138002", "+5511987654309"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "************1111"),
        ("card 4111 1111 1111 1111.", "card **** **** **** 1111."),
        ("5500-0000-0000-0004", "****-****-****-0004"),
        ("amex 3782 822463 10005", "amex **** ****** *0005"),
        ("4111  1111  1111  1111", "****  ****  ****  1111"),
        ("4111.1111.1111.1111", "****.****.****.1111"),
        ("4111\u00a01111\u00a01111\u00a01111", "****\u00a0****\u00a0****\u00a01111"),
        ("4111\n1111\n1111\n1111", "****\n****\n****\n1111"),
        ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "* * * * * * * * * * * * 1 1 1 1"),
        (FULL_WIDTH, "************" + "\uff11" * 4),
        ("pan=4111111111111111&exp=1227", "pan=************1111&exp=1227"),
        ("jane+4111111111111111@example.com", "jane+************1111@example.com"),  # not a phone number
        ("+4111111111111111", "+************1111"),  # 16 digits: longer than any phone number
        ("4111111111111111.0", "************1111.0"),
        ("CVV 123", "CVV ***"),
        ("my cvc: 4567", "my cvc: ****"),
        ("the security code is 999", "the security code is ***"),
        ("ref 0 4111 1111 1111 1111", "ref * **** **** **** 1111"),  # leading zeros keep its Luhn sum
        ("04111111111111111", "*************1111"),  # the same, glued
    ],
)
def test_card_data_is_masked(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123 shipped",  # 13 digits, not Luhn-valid
        "4111111111111112",  # Luhn fails
        "call me on +1 555 123 4567",
        "room 123, floor 4",
        "ticket 123",
        "00000000-0000-0000-0000-000000000001",  # a UUID whose digits pass Luhn
        "thread 12345678-1234-1234-1234-123456789012 again",
        "+49 1512 3456704",  # a phone number that passes Luhn, written as phone numbers are
        *LUHN_VALID_PHONES,
        "evt-2026-11-23-000123",  # a date and a counter (their 13 digits pass Luhn): not one number
        "v1.2.3.4.5.6.7.8.9.10.11.12.13",
        "7" * 40,  # glued to more digits than a card has
        "0" * 16,  # passes Luhn, but no card number starts with 0
        "0000 0000 0000 0000",
        "counter 0000000000042",  # zero-padded; passes Luhn
        "data.nest." + ".".join(["0"] * 64),  # a field's path, one digit at a time
        "\uff10" * 16,  # full-width zeros
        # Clock times: pairs of digits joined by colons (this run of them passes Luhn).
        "12:30:45 09:00-17:00 09:00-17:00",
        "open 09:00-12:00 13:00-17:30, Sat 10:00-13:00",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert redact_text(text) == text


def test_a_key_holding_a_card_is_found_even_written_as_a_phone_number():
    assert holds_card("pay-4111-1111-1111-1111")
    assert holds_card("+4915123456704")  # for keys, a + proves nothing
    assert not holds_card("+4915123456704", plus_is_phone=True)
    assert not holds_card("sms-0001") and not holds_card("/sms-gateway/eu-1")


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert luhn_valid(FULL_WIDTH)


def test_redact_walks_nested_data_masks_numbers_and_keys_and_reports_paths():
    data = {
        "text": "4111111111111111",
        "n": 4111111111111111,
        "f": 4111111111111111.0,
        "small": 42,
        "ratio": 0.5,
        "flag": True,
        "items": [{"note": "cvv 123"}, "ok"],
        "seen": {"5555 5555 5555 4444": True},
    }

    masked, paths = redact(data)

    assert masked == {
        "text": "************1111",
        "n": "************1111",
        "f": "************1111",
        "small": 42,
        "ratio": 0.5,
        "flag": True,
        "items": [{"note": "cvv ***"}, "ok"],
        "seen": {"**** **** **** 4444": True},
    }
    assert paths == ["data.text", "data.n", "data.f", "data.items[0].note", "data.seen.**** **** **** 4444"]


def test_two_keys_that_differ_only_in_a_card_number_are_refused_not_merged():
    with pytest.raises(CardNumberRefused) as refused:
        redact({"cards": {"4111111111111111": "a", "4444333322221111": "b"}})

    assert refused.value.errors[0]["field"] == "data.cards"
    assert "1111" not in refused.value.detail


def event(**overrides) -> NewEvent:
    fields = {
        "source": "/sms-gateway/eu-1",
        "id": "sms-1",
        "type": "message.received",
        "stream": "",
        "subject": "mailto:jane@example.com",
        "data": {"channel": "sms", "text": "card 4111 1111 1111 1111", "identifiers": ["tel:+4915123456704"]},
        "metadata": {
            "token": "00000000-0000-0000-0000-000000000001",
            "extensions": {"paymentref": "4111-1111-1111-1111", "amount": 4111111111111111},
            "dataschema": "https://schemas.example.com/4111111111111111",
            "correlation_id": "4111111111111111",
        },
    }
    return NewEvent(**{**fields, **overrides})


def test_the_event_pass_masks_data_and_metadata_but_never_identifiers():
    redacted = redact_event(event())

    assert redacted.data["text"] == "card **** **** **** 1111"
    assert redacted.data["identifiers"] == ["tel:+4915123456704"]  # a key: identity vets it, never masked
    assert redacted.metadata["extensions"] == {
        "paymentref": "****-****-****-1111",
        "amount": "************1111",
    }
    assert redacted.metadata["dataschema"] == "https://schemas.example.com/************1111"
    assert redacted.metadata["correlation_id"] == "************1111"
    assert redacted.metadata["token"] == "00000000-0000-0000-0000-000000000001"
    assert redacted.metadata["redacted"] == [
        "data.text",
        "metadata.extensions.paymentref",
        "metadata.extensions.amount",
        "metadata.dataschema",
        "metadata.correlation_id",
    ]
    assert redact_event(redacted) == redacted  # a second pass finds nothing more


def test_an_event_without_card_data_is_returned_as_it_is():
    clean = event(data={"channel": "sms", "text": "hello"}, metadata={"token": "t"})

    assert redact_event(clean) is clean


@pytest.mark.parametrize("field", ["id", "source"])
def test_the_event_pass_refuses_a_card_number_in_a_key(field):
    with pytest.raises(CardNumberRefused) as refused:
        redact_event(event(**{field: "pay-4111 1111 1111 1111"}))

    assert refused.value.errors == [{"field": field, "message": refused.value.errors[0]["message"]}]
    assert "holds a card number" in refused.value.detail and "1111" not in refused.value.detail


def test_an_excerpt_cut_inside_a_number_leaves_none_of_it():
    text = "paid with " + "4111 1111 1111 1111" + " twice"

    assert excerpt(text, 16) == "paid with…"  # cut after "4111 1": the whole run goes, and its separator
    assert excerpt(text, 400) == text
    assert excerpt("x" * 10 + "1" * 5000, 2000) == "x" * 10 + "…"


def test_text_shown_back_is_masked_then_cleaned():
    shown = shown_back("card 4111\u200e1111\u200e1111\u200e1111 \u202eevil\x00", 500)

    assert "4111" not in shown and shown.endswith("\ufffdevil\ufffd")


def test_a_sha256_hex_digest_is_an_identifier_not_a_card_number():
    """About one digest in three hundred holds a run passing Luhn: e-mail attachments' sha256 were masked."""
    import hashlib

    from interactions.privacy.redaction import redact_text

    digest = hashlib.sha256(b"file-349").hexdigest()
    assert "1632833268328" in digest  # the run the masker took for a card number
    assert redact_text(digest) == digest
    assert redact_text(f"sha256 {digest} card 4111 1111 1111 1111") == (
        f"sha256 {digest} card **** **** **** 1111"
    )
    assert redact_text(digest + "0") != digest + "0"  # 65 digits are no digest: read as any text


@pytest.mark.parametrize("separator", ["\t", "\xa0", "\u200b", "\U000e0020"])
def test_a_cut_inside_a_number_quoted_with_repr_shows_none_of_its_digits(separator):
    """The cut backed over digits and separators only, and stopped at an escape's letter (`\\t`): the first
    twelve digits stayed, too few for masking to find, and with the last four they tell the number."""
    from tests.corpora import cards

    number = separator.join(["4111", "1111", "1111", "1111"])
    for pad in range(440, 520):
        shown = shown_back(f"{'a' * pad + number!r} is not a topic", 500)
        assert cards.numbers_in(shown) == set() and "4111" not in shown, (pad, shown[-40:])


def test_the_planes_read_for_separators_hold_every_dash_and_formatting_character_this_python_knows():
    import sys
    import unicodedata

    from interactions.privacy import redaction

    everywhere = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Pd", "Cf")}
    read = {
        chr(c) for plane in redaction._PLANES for c in plane if unicodedata.category(chr(c)) in ("Pd", "Cf")
    }
    assert read == everywhere

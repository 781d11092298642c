"""Card numbers and security codes are masked before an event reaches the log."""

import pytest

from interactions.privacy.redaction import luhn_valid, redact, redact_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "************1111"),
        ("card 4111 1111 1111 1111.", "card **** **** **** 1111."),
        ("5500-0000-0000-0004", "****-****-****-0004"),
        ("amex 3782 822463 10005", "amex **** ****** *0005"),
        ("CVV 123", "CVV ***"),
        ("my cvc: 4567", "my cvc: ****"),
        ("the security code is 999", "the security code is ***"),
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
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert redact_text(text) == text


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_redact_walks_nested_data_and_reports_paths():
    data = {"text": "4111111111111111", "n": 4111111111111111, "items": [{"note": "cvv 123"}, "ok"]}

    masked, paths = redact(data)

    assert masked == {"text": "************1111", "n": 4111111111111111, "items": [{"note": "cvv ***"}, "ok"]}
    assert paths == ["data.text", "data.items[0].note"]

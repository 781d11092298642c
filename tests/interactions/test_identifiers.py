"""Identifier URIs: parsing and normalisation, and clear refusals."""

import pytest

from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier


@pytest.mark.parametrize(
    ("raw", "uri"),
    [
        ("tel:+15551234567", "tel:+15551234567"),
        ("tel:+1 (555) 123-4567", "tel:+15551234567"),
        ("tel:(555) 123-4567", "tel:+15551234567"),  # default region US (settings)
        ("tel:+44 20 7183 8750", "tel:+442071838750"),
        ("mailto:Jane.Doe@Example.COM", "mailto:jane.doe@example.com"),
        ("MAILTO:jane@example.com", "mailto:jane@example.com"),
        ("chat:visitor-8f2a", "chat:visitor-8f2a"),
        ("social:Twitter:@JaneDoe", "social:twitter:janedoe"),
        ("social:x:@ann", "social:x:ann"),
        ("account:A-100/7", "account:A-100/7"),
    ],
)
def test_identifiers_are_normalised(raw, uri):
    assert parse_identifier(raw).uri == uri


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        None,
        42,
        "tel:",
        "tel:12",
        "tel:not-a-number",
        "mailto:jane",
        "mailto:@example.com",
        "chat:",
        "chat:has space",
        "social:twitter",
        "social::jane",
        "fax:+15551234567",
        "janedoe",
        "x" * 400,
    ],
)
def test_bad_identifiers_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidIdentifier) as caught:
        parse_identifier(raw)
    assert str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "mailto:4111111111111111@example.com",
        "mailto:jane+4111-1111-1111-1111@example.com",
        "account:3530111333300000",
        "account:3530.1113.3330.0000",
        "chat:4111111111111111",
        "social:twitter:4111111111111111",
        "social:messenger:4111-1111-1111-1111",  # a scoped id is digits only: separators make it a card
        "4111111111111111",
        "tel:4111 1111 1111 1111",  # not a possible number either: refused as a card, not quoted back
        "tel:+4917610000000000",  # possible in Germany's numbering plan, but longer than E.164 allows
        "tel:+30569309025904",  # a possible number, in no assigned range, that passes Luhn
    ],
)
def test_an_identifier_holding_a_card_number_is_refused_without_quoting_it(raw):
    with pytest.raises(InvalidIdentifier) as caught:
        parse_identifier(raw)

    assert "card number" in str(caught.value)
    assert not any(ch.isdigit() for ch in str(caught.value))


@pytest.mark.parametrize(
    "raw",
    [
        "social:messenger:4111111111111111",
        "social:instagram:17841400000000001",
        "social:Messenger:4111111111111111",
    ],
)
def test_a_meta_scoped_id_that_passes_luhn_is_the_platforms_id(raw):
    # Messenger PSIDs and Instagram IGSIDs are 15-17 digits Meta hands out; one in ten passes Luhn by chance.
    assert parse_identifier(raw).uri == raw.lower()


@pytest.mark.parametrize("phone", ["+4915123456704", "+8613800138002", "+5511987654309"])
def test_a_phone_number_in_an_assigned_range_that_passes_luhn_is_a_phone_number(phone):
    # One 13-15 digit phone number in ten passes Luhn by chance; these are mobile numbers in real ranges.
    assert parse_identifier(f"tel:{phone}").uri == f"tel:{phone}"


@pytest.mark.parametrize(
    "value", ["social:twitter\n:@jane", "chat:abc\nx", "account:A1\n/2", "social:x:@ja\nne"]
)
def test_a_line_break_inside_an_identifier_is_refused(value):
    """`$` matched before a final newline: a platform ending in one (`twitter\\n`) was taken."""
    with pytest.raises(InvalidIdentifier):
        parse_identifier(value)

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

"""No card number reaches the database, a log line or a Celery message, whatever the REST entry point.

Every number of the card corpus (tests/corpora/cards.py), written in every format, is posted through every
entry point; then every table of the database (found through the database's own catalogue) is dumped as
text and searched for each number in any format, and so are the log records and the enqueued Celery
messages. Runs on whichever database DATABASE_URL names (SQLite in `make test`, PostgreSQL in CI).
"""

from __future__ import annotations

import json
import logging
import unicodedata

import pytest
from django.contrib.sessions.models import Session

from hub.models import StoredEvent
from interactions.privacy.redaction import holds_card, luhn_valid, redact_text
from tests.conftest import client_for, log_snapshot
from tests.corpora import cards

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(api, agent_token, supervisor_api) -> cards.Hub:
    return cards.Hub(
        integration=api, agent=client_for(agent_token), agent_token=agent_token, supervisor=supervisor_api
    )


def assert_nothing_leaked(caplog, enqueued) -> None:
    assert cards.database_leaks() == []
    assert cards.log_leaks(caplog.records) == []
    for name, args, kwargs in enqueued:
        assert cards.numbers_in(json.dumps([name, args, kwargs])) == set()
        assert all(cards.is_uuid(arg) for arg in args), (name, args)  # ids only


def test_every_corpus_number_is_a_luhn_valid_pan_of_13_to_19_digits():
    assert len(set(cards.CARDS)) == len(cards.CARDS)
    assert {len(n) for n in cards.CARDS} == set(range(13, 20))
    assert all(luhn_valid(n) for n in cards.CARDS)


def test_packed_calls_carry_every_number_of_every_format_once_and_fit_a_2000_character_field():
    packs = list(cards.packed())
    assert [n for _, values in packs for n in values] == [
        n for _, values in cards.formatted() for n in values
    ]
    assert all(len(cards.JOIN.join(values)) <= 2000 for _, values in packs)
    assert len(packs) < len(cards.FORMATS) / 2  # what packing is for: fewer flows


@pytest.mark.parametrize("fmt", list(cards.FORMATS))
def test_every_format_keeps_the_number_and_the_grep_finds_it(fmt):
    for number in cards.CARDS:
        written = cards.FORMATS[fmt](number)
        digits = "".join(str(unicodedata.decimal(c)) for c in written if c.isdecimal())
        assert number in digits
        assert number in cards.numbers_in(written)
        assert number in cards.numbers_in(json.dumps({"text": written}))  # escaped in JSON too
        assert number in cards.numbers_in(json.dumps({written: 1}))


@pytest.mark.parametrize("fmt", list(cards.FORMATS))
def test_every_number_of_the_corpus_in_every_format_is_masked_but_its_last_four_digits(fmt):
    for number in cards.CARDS:
        masked = redact_text(cards.FORMATS[fmt](number))
        assert cards.numbers_in(masked) == set(), masked
        assert "*" in masked
        assert holds_card(cards.FORMATS[fmt](number))


@pytest.mark.parametrize("entry", list(cards.STORED))
def test_a_card_number_posted_through_an_entry_point_is_stored_masked_and_never_in_full(
    entry, hub, caplog, enqueued, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        for fmt, values in cards.rounds(entry):
            cards.STORED[entry](hub, fmt, values)

    assert StoredEvent.objects.exists()
    assert_nothing_leaked(caplog, enqueued)
    assert cards.masked_numbers() == set(cards.CARDS)  # each kept its last four digits


@pytest.mark.parametrize("entry", list(cards.REFUSED))
def test_a_card_number_in_a_key_is_refused_naming_the_field_and_nothing_is_written(
    entry, hub, caplog, enqueued, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    before = log_snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        for fmt, values in cards.formatted():
            for refusal in cards.REFUSED[entry](hub, fmt, values):
                response = refusal.response
                assert response.status_code == refusal.status, (fmt, response.content)
                assert response["Content-Type"] == "application/problem+json"
                named = [index for index, field in cards.problem_fields(response) if field == refusal.field]
                assert len(set(named)) == refusal.indexes, (fmt, response.content)
                assert cards.numbers_in(response.content.decode()) == set(), (fmt, response.content)

    assert log_snapshot() == before
    assert_nothing_leaked(caplog, enqueued)


@pytest.mark.parametrize("entry", list(cards.ECHOED))
def test_an_answer_never_repeats_a_card_number_it_was_sent(entry, hub, caplog, enqueued):
    caplog.set_level(logging.DEBUG)
    for fmt, value in cards.in_turn():
        response = cards.ECHOED[entry](hub, value)
        assert response.status_code < 500, (fmt, response.content)
        assert cards.numbers_in(response.content.decode()) == set(), (fmt, response.content)

    assert_nothing_leaked(caplog, enqueued)


@pytest.mark.parametrize("entry", list(cards.KEYED))
def test_a_card_number_sent_as_an_idempotency_key_is_never_stored_logged_or_answered(
    entry, hub, caplog, enqueued, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    accepted = 0
    with django_capture_on_commit_callbacks(execute=True):
        for fmt, key in cards.in_turn():
            first, again = cards.KEYED[entry](hub, key)
            for response in (first, again):
                assert cards.numbers_in(response.content.decode()) == set(), (fmt, response.content)
            if all("!" <= c <= "~" for c in key):  # visible ASCII: a key a client may send
                assert first.status_code == again.status_code == 201, (fmt, again.content)
                assert again.json() == first.json(), fmt  # the retry is answered as the first request
                accepted += 1
            else:
                assert first.status_code == again.status_code == 400, (fmt, first.content)
                assert [field for _, field in cards.problem_fields(first)] == ["Idempotency-Key"], fmt

    assert accepted >= 10  # digits, dashes, dots, slashes, ... are keys a client may send
    assert_nothing_leaked(caplog, enqueued)


@pytest.mark.parametrize("entry", list(cards.NAMED))
def test_a_card_number_in_a_name_an_operator_gives_is_refused_and_never_stored(
    entry, caplog, enqueued, fast_passwords
):
    caplog.set_level(logging.DEBUG)
    named = cards.NAMED[entry]
    for fmt, values in cards.formatted():
        for value in cards.one_of_each_length(values):
            sentence = named.run(value)
            if sentence is None:  # kept: only a list whose parts hold no number may be
                assert named.comma_list, (fmt, value)
                assert not any(holds_card(part) for part in value.split(",")), (fmt, value)
            else:
                assert "card number" in sentence, (fmt, sentence)
                assert cards.numbers_in(sentence) == set(), (fmt, sentence)

    assert_nothing_leaked(caplog, enqueued)


@pytest.mark.parametrize("entry", list(cards.ADMIN_FORMS))
def test_a_card_number_typed_into_an_admin_form_is_refused_and_never_stored_or_shown_back(
    entry, admin_client, caplog, enqueued, fast_passwords
):
    caplog.set_level(logging.DEBUG)
    for fmt, value in cards.in_turn():
        field, post = cards.ADMIN_FORMS[entry]
        page = post(admin_client, value)
        assert page.status_code == 200, (fmt, value)  # the form again, saying why
        # Ours, or Django's own where the shape is wrong first (a number is no e-mail address or choice).
        assert field in page.context["adminform"].form.errors, (fmt, value)
        assert cards.numbers_in(page.content.decode()) == set(), (fmt, value)

    assert_nothing_leaked(caplog, enqueued)


def test_signing_in_with_a_card_number_fails_without_showing_storing_or_logging_it(
    caplog, enqueued, fast_passwords
):
    caplog.set_level(logging.DEBUG)
    for fmt, value in cards.in_turn():
        page = cards.sign_in(value)
        assert page.status_code == 200, fmt  # the form again, saying why
        assert b"did not match" in page.content, fmt
        assert cards.numbers_in(page.content.decode()) == set(), (fmt, page.content)

    assert not Session.objects.exists()
    assert_nothing_leaked(caplog, enqueued)


# Digits Unicode does not count as decimal digits, which NFKC (as Django keeps a username) makes ASCII ones.
NFKC_DIGITS = {"superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹", "circled": "⓪①②③④⑤⑥⑦⑧⑨"}


@pytest.mark.parametrize("digits", list(NFKC_DIGITS.values()), ids=list(NFKC_DIGITS))
@pytest.mark.parametrize("entry", list(cards.NAMED))
def test_a_name_in_digits_normalisation_makes_a_card_number_is_refused(entry, digits, fast_passwords):
    """createsuperuser checked the name as typed; Django then stored it NFKC-normalised: 4111111111111111."""
    value = cards.CARDS[0].translate(str.maketrans("0123456789", digits))

    sentence = cards.NAMED[entry].run(value)

    assert sentence is not None, "kept"  # refused: as a card number, or (a hook name) as not [A-Za-z0-9_-]
    assert cards.database_leaks() == []

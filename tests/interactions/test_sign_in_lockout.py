"""Guessing passwords: a name that fails to sign in too often from one address is refused there for a while,
on the desk's sign-in page and the admin's alike, and nothing typed or sent is stored unmasked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.db.models import F
from django.test import Client
from django.utils import timezone

from interactions.models import Role
from interactions.people.services import person_create
from tests.corpora import cards

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
LIMIT = 5


@pytest.fixture(autouse=True)
def people(fast_passwords, settings) -> None:
    assert settings.AXES_FAILURE_LIMIT == LIMIT  # the default README gives
    person_create(username="ann", role=Role.AGENT, password=PASSWORD)
    person_create(username="bob", role=Role.AGENT, password=PASSWORD)
    person_create(username="root", role=Role.ADMIN, password=PASSWORD)


def sign_in(
    name: str, password: str, *, address: str = "203.0.113.7", path: str = "/accounts/login/", **headers
):
    return Client(REMOTE_ADDR=address, **headers).post(path, {"username": name, "password": password})


def signed_in(response) -> bool:
    """Signed in: sent on (to the desk, or the admin's index), not shown the form again or refused."""
    return response.status_code == 302 and "sessionid" in response.cookies


def test_a_name_that_failed_too_often_from_one_address_is_refused_there_even_with_the_right_password():
    for _ in range(LIMIT - 1):
        page = sign_in("ann", "wrong")
        assert page.status_code == 200 and b"did not match" in page.content
    assert sign_in("ann", "wrong").status_code == 429  # the last failure allowed says so at once
    locked = sign_in("ann", PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content and b"15 minutes" in locked.content
    assert locked["Retry-After"] == "900"
    assert not Session.objects.exists()

    # Another name from the same address, and the same name from another address, sign in.
    assert signed_in(sign_in("bob", PASSWORD))
    assert signed_in(sign_in("ann", PASSWORD, address="198.51.100.4"))
    # Once the lockout has run out (the last failure 16 minutes ago), the name signs in from there again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert signed_in(sign_in("ann", PASSWORD))


def test_a_try_while_refused_starts_the_lockout_again_so_its_retry_after_is_true():
    for _ in range(LIMIT):
        sign_in("ann", "wrong")
    # 14 minutes on, a try (with the right password) is refused, and told to wait the whole lockout again ...
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    refused = sign_in("ann", PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "900"
    # ... which is so: 2 minutes on, 16 after the last failure before that try, it is still refused.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=2))
    assert sign_in("ann", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert signed_in(sign_in("ann", PASSWORD))


def test_a_sign_in_that_works_starts_the_count_again():
    for _ in range(2):
        for _ in range(LIMIT - 1):
            assert sign_in("ann", "wrong").status_code == 200
        assert signed_in(sign_in("ann", PASSWORD))


def test_a_forwarded_for_header_does_not_make_each_guess_come_from_somewhere_else():
    for n in range(LIMIT - 1):
        assert sign_in("ann", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code == 200
    assert sign_in("ann", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.50").status_code == 429
    assert sign_in("ann", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_the_admins_sign_in_counts_too():
    for _ in range(LIMIT - 1):
        assert sign_in("root", "wrong", path="/admin/login/").status_code == 200
    assert sign_in("root", "wrong", path="/admin/login/").status_code == 429
    assert sign_in("root", PASSWORD, path="/admin/login/").status_code == 429
    assert sign_in("root", PASSWORD).status_code == 429  # and the desk's: one count per name and address
    assert not Session.objects.exists()


def test_what_a_failed_sign_in_sent_is_stored_with_its_card_numbers_masked():
    for number in cards.CARDS[:3]:
        sent(number)
    assert AccessAttempt.objects.count() >= 2
    assert cards.database_leaks() == []
    stored = AccessAttempt.objects.values_list(
        "username", "user_agent", "http_accept", "get_data", "post_data"
    )
    agents = {row[1] for row in stored}
    assert agents and all(agent.startswith("agent ") and "*" in agent for agent in agents)  # kept, masked


def sent(number: str) -> None:
    for path in ("/accounts/login/", "/admin/login/"):
        client = Client(
            REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=f"agent {number}", HTTP_ACCEPT=f"text/{number}"
        )
        client.post(
            f"{path}?next=/desk/{number}&other={number}", {"username": f"ann {number}", "password": number}
        )
        client.post(path, {"username": number, "password": "x", "extra": number})


def test_the_failure_that_leaves_one_try_says_that_the_next_one_locks_the_name_out():
    for _ in range(LIMIT - 2):
        page = sign_in("ann", "wrong")
        assert b"did not match" in page.content and b"One more failed try" not in page.content
    warned = sign_in("ann", "wrong")
    assert warned.status_code == 200
    assert b"One more failed try and this name cannot sign in from here for 15 minutes." in warned.content
    # Another address, or another name, has its own count.
    assert b"One more failed try" not in sign_in("ann", "wrong", address="198.51.100.4").content
    assert b"One more failed try" not in sign_in("bob", "wrong").content
    assert sign_in("ann", "wrong").status_code == 429  # as it said

"""Revoking a token: `manage.py revoke_token <id>` and the admin's action; revocation is final."""

import io
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from interactions.access import tokens
from interactions.access.tokens import token_authenticate, tokens_revoked
from interactions.models import ApiToken, Role
from interactions.people import services as people_services
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("revoke_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_revokes_each_token_named_and_says_so():
    first, second, kept = (ApiTokenFactory(role=Role.AGENT) for _ in range(3))

    output = run(str(first.pk), str(second.pk))

    assert f"Revoked agent token {first.name!r} (id {first.pk})." in output
    assert token_authenticate(first.raw) is None and token_authenticate(second.raw) is None
    assert token_authenticate(kept.raw) == kept
    assert tokens_revoked([str(first.pk), str(second.pk), str(kept.pk)]) == {str(first.pk), str(second.pk)}


def test_revoking_twice_is_harmless_and_keeps_the_first_revocation_time():
    token = ApiTokenFactory()
    run(str(token.pk))
    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at

    output = run(str(token.pk))

    assert "already revoked" in output
    assert ApiToken.objects.get(pk=token.pk).revoked_at == revoked_at


def test_a_token_named_twice_is_revoked_once_and_said_once():
    """The same id twice (or in upper and lower case) revoked it, then failed formatting the revocation time
    it had not read: a traceback, and status 1 for a revocation that was done."""
    token, other = ApiTokenFactory(), ApiTokenFactory()

    output = run(str(token.pk), str(token.pk).upper(), str(other.pk))

    assert output.splitlines() == [
        f"Revoked {token.role} token {token.name!r} (id {token.pk}).",
        f"Revoked {other.role} token {other.name!r} (id {other.pk}).",
    ]
    assert tokens_revoked([str(token.pk), str(other.pk)]) == {str(token.pk), str(other.pk)}


def test_a_token_revoked_by_another_process_meanwhile_is_said_already_revoked(monkeypatch):
    token = ApiTokenFactory()

    def first_elsewhere(stale):  # another process revokes it between this command's read and its write
        tokens.token_revoke(ApiToken.objects.get(pk=stale.pk))
        return tokens.token_revoke(stale)

    monkeypatch.setattr(people_services, "token_revoke", first_elsewhere)

    output = run(str(token.pk))

    revoked_at = ApiToken.objects.get(pk=token.pk).revoked_at
    assert output.strip() == (
        f"The {token.role} token {token.name!r} (id {token.pk}) was already revoked"
        f" ({revoked_at:%Y-%m-%d %H:%M:%S %Z})."
    )


@pytest.mark.parametrize(("given", "message"), [("tl_abc", "is not a token id"), (None, "no token")])
def test_an_unknown_or_malformed_id_revokes_nothing(given, message):
    token = ApiTokenFactory()

    with pytest.raises(CommandError, match=message):
        run(str(token.pk), given or str(uuid.uuid4()))

    assert token_authenticate(token.raw) == token  # every id is checked before any is revoked


def test_a_deleted_token_counts_as_revoked_for_the_sockets_watch():
    token = ApiTokenFactory()
    token_id = str(token.pk)
    ApiToken.objects.filter(pk=token_id).delete()

    assert tokens_revoked([token_id]) == {token_id}


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_admin_revokes_selected_tokens_with_an_action(admin_client):
    token, kept = ApiTokenFactory(role=Role.AGENT), ApiTokenFactory(role=Role.AGENT)

    response = admin_client.post(
        "/admin/interactions/apitoken/",
        {"action": "revoke", "_selected_action": [str(token.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 1 token(s)" in response.content.decode()
    assert token_authenticate(token.raw) is None and token_authenticate(kept.raw) == kept


def test_the_admin_cannot_bring_a_revoked_token_back(admin_client):
    token = ApiTokenFactory(role=Role.AGENT)
    run(str(token.pk))

    response = admin_client.post(
        f"/admin/interactions/apitoken/{token.pk}/change/",
        {"name": token.name, "role": "agent", "source_prefix": "", "skills": "[]", "revoked_at": ""},
    )

    assert response.status_code == 302  # saved: revoked_at is read-only, so the empty value was ignored
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert token_authenticate(token.raw) is None

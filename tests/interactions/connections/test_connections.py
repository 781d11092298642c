"""Connections: add_connection prints the hooks, secrets are sealed or hashed and shown nowhere; revoking."""

import importlib
import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from hub.errors import NotFound
from interactions.connections import sealing
from interactions.connections.models import Connection, IgnoredDelivery
from interactions.connections.services import (
    connection_create,
    connection_get_live,
    connection_revoke,
    connection_secret_matches,
    deliveries_ignored,
    ignored_counts,
)
from tests.e2e import servers

pytestmark = pytest.mark.django_db

TOKEN = "twilio-auth-token-0123456789abcdef"


def add(*args) -> str:
    out = io.StringIO()
    call_command("add_connection", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_add_twilio_prints_one_line_per_purpose():
    output = add("twilio", "acme-sms", "--auth-token", TOKEN)

    assert output.splitlines() == [
        "messaging /hooks/twilio/acme-sms/messaging",
        "message-status /hooks/twilio/acme-sms/message-status",
        "voice /hooks/twilio/acme-sms/voice",
        "recording /hooks/twilio/acme-sms/recording",
        "transcription /hooks/twilio/acme-sms/transcription",
    ]
    connection = Connection.objects.get()
    assert (connection.name, connection.provider, connection.revoked_at) == ("acme-sms", "twilio", None)
    assert connection.secret("auth_token") == TOKEN


def test_add_meta_and_email_print_their_hooks():
    assert add("meta", "acme-meta", "--app-secret", "s3", "--verify-token", "v3") == (
        "webhook /hooks/meta/acme-meta/webhook\n"
    )
    assert (
        add("email", "acme-mail", "--secret", "a-long-random-secret-0123456789")
        == "inbound /hooks/email/acme-mail/inbound\n"
    )
    meta = Connection.objects.get(name="acme-meta")
    assert (meta.secret("app_secret"), meta.secret("verify_token")) == ("s3", "v3")


def test_secrets_are_not_in_the_table_in_clear():
    add("twilio", "t", "--auth-token", TOKEN)
    add("email", "m", "--secret", "mail-secret-xyz-0123456789")

    for row in Connection.objects.values():
        dumped = json.dumps(row, default=str)
        assert TOKEN not in dumped and "mail-secret-xyz-0123456789" not in dumped
    twilio = Connection.objects.get(name="t")
    assert TOKEN not in repr(twilio) and TOKEN not in str(twilio)


def test_the_email_secret_is_kept_as_a_salted_hash_and_compared():
    connection = connection_create(
        provider="email", name="m", secrets={"secret": "mail-secret-xyz-0123456789"}
    )
    other = connection_create(provider="email", name="n", secrets={"secret": "mail-secret-xyz-0123456789"})

    assert connection.sealed_secrets == ""
    assert connection.secret_digest.startswith("sha256$")
    assert connection.secret_digest != other.secret_digest  # salted
    assert connection_secret_matches(connection, "mail-secret-xyz-0123456789")
    assert not connection_secret_matches(connection, "mail-secret-xy")
    assert not connection_secret_matches(connection, "")
    assert not connection_secret_matches(connection, None)


def test_sealed_secrets_need_the_key_that_sealed_them():
    with override_settings(THREADLINE_SECRETS_KEY=["key-one"]):
        connection = connection_create(provider="twilio", name="t", secrets={"auth_token": TOKEN})
    with override_settings(THREADLINE_SECRETS_KEY=["key-two", "key-one"]):  # a new key, the old one kept
        assert Connection.objects.get().secret("auth_token") == TOKEN
    with override_settings(THREADLINE_SECRETS_KEY=["key-two"]), pytest.raises(sealing.SecretsUnreadable):
        Connection.objects.get().secret("auth_token")
    # Without the setting the key is derived from SECRET_KEY: not the one that sealed it here.
    with override_settings(THREADLINE_SECRETS_KEY=[]), pytest.raises(sealing.SecretsUnreadable):
        connection.secret("auth_token")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fax", "x", "--secret", "s"), "unknown provider 'fax'"),
        (("twilio", "x"), "needs --auth-token"),
        (("meta", "x", "--app-secret", "s"), "needs --verify-token"),
        (("email", "x"), "needs --secret"),
        (("email", "x", "--secret", "s", "--auth-token", "t"), "takes no --auth-token"),
        (("twilio", "no/slash", "--auth-token", "t"), "must be letters, digits"),
        (("twilio", "x" * 65, "--auth-token", "t"), "at most 64"),
        # Only a fast salted hash is kept of the e-mail hook's bearer secret: a short one could be guessed.
        (("email", "x", "--secret", "s" * 23), "--secret must be at least 24 characters"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_created(args, message):
    with pytest.raises(CommandError, match=message):
        add(*args)
    assert not Connection.objects.exists()


def test_a_duplicate_name_is_refused():
    add("twilio", "acme", "--auth-token", TOKEN)
    with pytest.raises(CommandError, match="a connection named 'acme' exists already"):
        add("email", "acme", "--secret", "s" * 24)
    assert Connection.objects.count() == 1


def test_the_command_fails_with_one_line_and_a_non_zero_status():
    done = subprocess.run(
        [sys.executable, "manage.py", "add_connection", "fax", "x", "--secret", "s"],
        env=servers.server_env(),  # the test database: a command runs only on a migrated one
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "CommandError: unknown provider 'fax'; use one of twilio, meta, email"
    ]


def test_revoked_connections_are_not_live():
    connection = connection_create(provider="twilio", name="t", secrets={"auth_token": TOKEN})
    assert connection_get_live("twilio", "t") == connection
    with pytest.raises(NotFound):
        connection_get_live("meta", "t")

    assert connection_revoke(connection) is True
    assert connection_revoke(connection) is False
    with pytest.raises(NotFound):
        connection_get_live("twilio", "t")


def test_ignored_deliveries_are_counted_per_connection_and_kind():
    one = connection_create(provider="twilio", name="one", secrets={"auth_token": TOKEN})
    two = connection_create(provider="twilio", name="two", secrets={"auth_token": TOKEN})

    deliveries_ignored(one, ["voice.ringing", "voice.ringing", "message-status.sending"])
    deliveries_ignored(one, ["voice.ringing"])
    deliveries_ignored(two, ["voice.ringing"])

    assert ignored_counts(one) == {"message-status.sending": 1, "voice.ringing": 3}
    assert ignored_counts(two) == {"voice.ringing": 1}


def test_the_admin_lists_connections_without_secrets_and_revokes_them(admin_client):
    connection = connection_create(provider="twilio", name="acme", secrets={"auth_token": TOKEN})
    deliveries_ignored(connection, ["voice.ringing"])

    listing = admin_client.get("/admin/connections/connection/")
    page = admin_client.get(f"/admin/connections/connection/{connection.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    for body in (listing.content.decode(), page.content.decode()):
        assert "acme" in body
        assert TOKEN not in body and connection.sealed_secrets not in body
    assert "/hooks/twilio/acme/messaging" in page.content.decode()
    assert "voice.ringing" in page.content.decode()

    answer = admin_client.post(
        "/admin/connections/connection/",
        {"action": "revoke", "_selected_action": [str(connection.pk)]},
    )
    assert answer.status_code == 302
    connection.refresh_from_db()
    assert connection.revoked_at is not None


def test_the_migration_cleans_the_kinds_kept_before_and_merges_those_that_become_one():
    """Rows kept before kinds were cleaned: one with a card number, one that becomes a kind that already
    has a row (counted together), and one that was always clean."""
    from django.apps import apps as django_apps

    clean_kinds = importlib.import_module(
        "interactions.connections.migrations.0002_ignored_kinds_masked"
    ).clean_kinds
    secrets = {"app_secret": "s", "verify_token": "t"}
    connection = connection_create(provider="meta", name="old", secrets=secrets)
    early, late = timezone.now() - timedelta(days=3), timezone.now() - timedelta(days=1)
    IgnoredDelivery.objects.bulk_create(
        [
            IgnoredDelivery(connection=connection, kind="whatsapp.field.4111 1111 1111 1111", count=2),
            IgnoredDelivery(connection=connection, kind="whatsapp.field.4111-1111-1111-1111", count=3),
            IgnoredDelivery(connection=connection, kind="whatsapp.field.****-****-****-1111", count=5),
            IgnoredDelivery(connection=connection, kind="object.permissions", count=7),
        ]
    )
    IgnoredDelivery.objects.filter(kind="whatsapp.field.4111 1111 1111 1111").update(first_at=early)
    IgnoredDelivery.objects.filter(kind="whatsapp.field.****-****-****-1111").update(last_at=late)

    clean_kinds(django_apps, None)

    assert ignored_counts(connection) == {"object.permissions": 7, "whatsapp.field.****-****-****-1111": 10}
    merged = IgnoredDelivery.objects.get(kind="whatsapp.field.****-****-****-1111")
    assert merged.first_at == early and merged.last_at >= late

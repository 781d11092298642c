"""manage.py create_token: prints the token alone on its last line and stores only its hash."""

import io

import pytest
from django.core.management import CommandError, call_command

from interactions.access.tokens import token_authenticate
from interactions.models import ApiToken

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("create_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_prints_the_token_on_its_last_line_and_stores_only_a_hash():
    output = run("sms-gateway", "--role", "integration", "--source", "/sms/")

    raw = output.strip().splitlines()[-1]
    token = ApiToken.objects.get()
    assert raw.startswith("tl_") and len(raw) > 40
    assert raw not in (token.digest, token.hint) and token.digest != raw
    assert token_authenticate(raw) == token
    assert (token.role, token.source_prefix) == ("integration", "/sms/")


def test_agent_skills_are_kept_normalised():
    run("Jane", "--role", "agent", "--skills", "Billing, tech,,billing")

    assert ApiToken.objects.get().skills == ["billing", "tech"]


def test_an_integration_token_needs_a_source_prefix():
    with pytest.raises(CommandError, match="--source"):
        run("sms", "--role", "integration")
    assert ApiToken.objects.count() == 0


def test_an_unknown_role_is_refused():
    with pytest.raises(CommandError):
        run("x", "--role", "wizard")

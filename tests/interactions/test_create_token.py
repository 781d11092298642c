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


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("", "--role", "agent"), "needs a name"),
        (("  ", "--role", "agent"), "needs a name"),
        (("sms", "--role", "integration", "--source", "   "), "--source"),
    ],
    ids=["empty-name", "blank-name", "blank-source"],
)
def test_a_blank_name_or_source_prefix_is_refused_as_the_admins_form_refuses_it(args, says):
    with pytest.raises(CommandError, match=says):
        run(*args)
    assert ApiToken.objects.count() == 0


def test_the_name_and_source_prefix_are_kept_trimmed():
    run(" sms ", "--role", "integration", "--source", " /sms/ ")

    assert ApiToken.objects.values_list("name", "source_prefix").get() == ("sms", "/sms/")


def test_an_unknown_role_is_refused():
    with pytest.raises(CommandError):
        run("x", "--role", "wizard")


def _edit(admin_client, token: ApiToken, **fields: str):
    form = {"name": token.name, "role": token.role, "source_prefix": token.source_prefix, "skills": "[]"}
    return admin_client.post(f"/admin/interactions/apitoken/{token.pk}/change/", {**form, **fields})


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "paid with 4111 1111 1111 1111", "holds a card number"),
        ("name", "a\x00b", "Null characters are not allowed"),  # Django's own form field says so first
        ("source_prefix", "/sms/4111111111111111/", "holds a card number"),
        ("skills", '["billing", "4111-1111-1111-1111"]', "skill 2 holds a card number"),
        ("skills", '["x\\u0000"]', "skill 1 contains NUL"),
        ("skills", '"billing"', "a list of names"),
        ("skills", "[1]", "skill 1 is not text"),
    ],
)
def test_the_admins_token_form_refuses_what_create_token_refuses(admin_client, field, value, says):
    run("Jane", "--role", "agent", "--skills", "billing")
    token = ApiToken.objects.get()

    page = _edit(admin_client, token, **{field: value})

    assert page.status_code == 200 and says in page.content.decode()  # the form again, with the reason
    kept = ApiToken.objects.get()
    assert (kept.name, kept.source_prefix, kept.skills) == ("Jane", "", ["billing"])


def test_the_admins_token_form_keeps_skills_normalised(admin_client):
    run("Jane", "--role", "agent")

    page = _edit(admin_client, ApiToken.objects.get(), skills='["Tech", " billing ", "tech"]')

    assert page.status_code == 302
    assert ApiToken.objects.get().skills == ["billing", "tech"]


@pytest.mark.parametrize(
    ("made_as", "fields"),
    [
        (("sms", "--role", "integration", "--source", "/sms/"), {"source_prefix": ""}),
        (("Jane", "--role", "agent"), {"role": "integration"}),
    ],
    ids=["prefix-cleared", "agent-made-integration"],
)
def test_the_admins_token_form_refuses_an_integration_token_without_a_source_prefix(
    admin_client, made_as, fields
):
    """create_token refuses an integration without --source; the admin must not make one either. With an
    empty prefix every source starts with it: the token posted for any source and read the whole log."""
    run(*made_as)
    token = ApiToken.objects.get()

    page = _edit(admin_client, token, **fields)

    assert page.status_code == 200 and "needs a source prefix" in page.content.decode()
    kept = ApiToken.objects.get()
    assert (kept.role, kept.source_prefix) == (token.role, token.source_prefix)

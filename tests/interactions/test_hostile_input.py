"""Every hostile input of the corpus (tests/corpora/hostile.py) gets its 400 or 422 problem naming the field,
and changes nothing: not the log, not a read model, not a checkpoint. Hostile command arguments get a
CommandError saying what is wrong, and hostile sign-ins the form again; neither writes anything. The same
tests run on SQLite (`make test`) and PostgreSQL (CI), so both databases give the same answer."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.test import Client

from interactions.access.models import ApiToken
from interactions.connections.models import Connection
from interactions.followups.models import Followup
from interactions.people.services import person_create
from tests.conftest import client_for, store_snapshot
from tests.corpora.hostile import (
    ADMIN_NAME_CASES,
    CASES,
    COMMAND_CASES,
    ENTRY_POINTS,
    QUERY_CASES,
    SIGN_IN_CASES,
    USER_PASSWORD,
    Case,
    CommandCase,
    QueryCase,
)
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post, user_change_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def targets(api, supervisor_api) -> dict[str, str]:
    """A thread and a callback for the entry points that act on one."""
    placed = post(api, id="existing")
    response = supervisor_api.post(
        "/api/v1/callbacks", {"identifier": "tel:+15551234567", "phone": "+15551234567"}, format="json"
    )
    assert response.status_code == 201, response.content
    post(api, id="bottom-box", type="survey.answered", data={"channel": "sms", "metric": "csat", "score": 1})
    return {
        "thread": placed["thread_id"],
        "callback": response.json()["id"],
        "customer": placed["customer_id"],
        "followup": str(Followup.objects.get().pk),
    }


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_naming_the_field_and_changes_nothing(case: Case, api, targets):
    entry = ENTRY_POINTS[case.entry]
    client = api if entry.role == "integration" else client_for(ApiTokenFactory(role=entry.role))
    before = store_snapshot()

    response = client.generic(
        "POST",
        entry.path.format(**targets),
        case.body.encode("utf-8", "surrogatepass"),
        content_type=entry.content_type,
        **_meta(case.headers),
    )

    assert response.status_code == case.status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    named = [
        e
        for e in problem.get("errors", [])
        if e["field"] == case.field or e["field"].startswith(case.field + ".")
    ]
    assert named, problem
    if case.index is not None:
        assert named[0]["index"] == case.index, problem
    assert store_snapshot() == before


def test_a_hostile_event_from_a_source_outside_the_tokens_prefix_is_still_a_403(api):
    response = api.generic(
        "POST",
        "/api/v1/events",
        '{"specversion": "1.0", "id": "x", "source": "/elsewhere", "type": "message.received",'
        ' "subject": "tel:+15551234567", "data": {"channel": "sms", "text": "a\\u0000"}}',
        content_type="application/cloudevents+json",
    )
    assert response.status_code == 403, response.content


def _people_tokens_connections() -> tuple[int, int, int]:
    return get_user_model().objects.count(), ApiToken.objects.count(), Connection.objects.count()


@pytest.mark.parametrize("case", COMMAND_CASES, ids=[c.name for c in COMMAND_CASES])
def test_a_hostile_command_argument_is_refused_saying_what_and_writes_nothing(case: CommandCase):
    before = _people_tokens_connections(), store_snapshot()

    with pytest.raises(CommandError) as refused:
        call_command(*case.args, stdout=io.StringIO(), stderr=io.StringIO())

    assert case.says in str(refused.value)
    assert (_people_tokens_connections(), store_snapshot()) == before


@pytest.mark.parametrize("body", list(SIGN_IN_CASES.values()), ids=list(SIGN_IN_CASES))
def test_a_hostile_sign_in_gets_the_form_again_and_signs_no_one_in(body: bytes):
    person_create(username="ann", role="agent", password=USER_PASSWORD)
    client = Client()

    page = client.generic("POST", "/accounts/login/", body, content_type="application/x-www-form-urlencoded")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b'name="username"' in page.content  # the form again
    assert not Session.objects.exists()
    assert client.get("/desk/").status_code == 302  # still signed out


def _user_change_form(field: str) -> tuple[str, str, dict]:
    from django.contrib.auth.models import User

    user = User.objects.create_user("hostile-admin-case")
    return f"/admin/auth/user/{user.pk}/change/", field, user_change_form(user)


ADMIN_NAME_FORMS = {
    "user add": lambda: ("/admin/auth/user/add/", "username", {"usable_password": "false"}),
    "user change: first name": lambda: _user_change_form("first_name"),
    "user change: last name": lambda: _user_change_form("last_name"),
    "group add": lambda: ("/admin/auth/group/add/", "name", {}),
}


@pytest.mark.parametrize("value", list(ADMIN_NAME_CASES.values()), ids=list(ADMIN_NAME_CASES))
@pytest.mark.parametrize("form", list(ADMIN_NAME_FORMS))
def test_a_hostile_name_in_the_admins_user_or_group_form_is_refused_and_nothing_written(
    admin_client, form: str, value: str
):
    from django.contrib.auth.models import Group, User

    path, field, rest = ADMIN_NAME_FORMS[form]()
    before = (
        sorted(User.objects.values_list("username", "first_name", "last_name")),
        list(Group.objects.all()),
    )

    page = admin_client.post(path, {**rest, field: value})

    if not value.strip() and form.startswith("user change"):  # a first or last name may be blank: kept so
        assert page.status_code == 302
        assert User.objects.filter(**{field: ""}).count() == User.objects.count()
        return
    assert page.status_code == 200, page.content[:300]  # the form again, with the reason
    assert page.context["adminform"].form.errors.get(field)
    after = sorted(User.objects.values_list("username", "first_name", "last_name")), list(Group.objects.all())
    assert after == before


@pytest.mark.parametrize("form", ["user change: first name", "user change: last name", "group add"])
def test_an_invisible_character_in_a_name_django_would_keep_is_refused_with_our_sentence(admin_client, form):
    path, field, rest = ADMIN_NAME_FORMS[form]()

    page = admin_client.post(
        path, {**rest, field: ADMIN_NAME_CASES["a right-to-left override and a zero-width space"]}
    )

    assert "holds an invisible or control character (U+202E)" in page.content.decode()


@pytest.mark.parametrize("charset", ["punycode", "undefined", "hex", "utf-16"])
@pytest.mark.parametrize("entry", ["callbacks.request", "threads.note", "nba.taken"])
def test_a_json_body_in_a_charset_that_cannot_read_it_is_a_400_problem(entry, charset, api, targets):
    """`punycode` and `undefined` raise a plain UnicodeError, which was a 500 on every JSON endpoint."""
    point = ENTRY_POINTS[entry]
    client = client_for(ApiTokenFactory(role=point.role))
    before = store_snapshot()

    response = client.generic(
        "POST",
        point.path.format(**targets),
        b'{"text": "hello"}',
        content_type=f"application/json; charset={charset}",
    )

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert charset in response.json()["detail"]  # "the body is not punycode", or "Unsupported charset"
    assert store_snapshot() == before


@pytest.mark.parametrize("case", QUERY_CASES, ids=[c.name for c in QUERY_CASES])
def test_a_hostile_query_parameter_is_a_400_naming_it(case: QueryCase):
    client = client_for(ApiTokenFactory(role=case.role))

    response = client.get(case.path, case.params)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert case.field in [e["field"] for e in response.json()["errors"]], response.json()

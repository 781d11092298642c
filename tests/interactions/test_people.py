"""People: `manage.py create_user`, and a signed-in session on the REST API under its role's rules (CSRF on
unsafe requests)."""

from __future__ import annotations

import io
import json
import re
import uuid
from importlib import import_module

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from rest_framework.test import APIClient

from interactions.access.tokens import token_revoke
from interactions.models import ApiToken, Role
from interactions.people.models import Person
from tests.conftest import client_for, cloud_event
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import user_change_form

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def create_user(*args) -> str:
    out = io.StringIO()
    call_command("create_user", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_user_makes_a_person_acting_as_a_principal_with_the_role_and_skills():
    output = create_user("ann", "--role", "agent", "--skills", "Billing, tech", "--password", PASSWORD)

    person = Person.objects.select_related("user", "principal").get()
    assert person.user.username == "ann" and person.user.check_password(PASSWORD)
    assert (person.principal.role, person.principal.skills) == ("agent", ["billing", "tech"])
    assert not person.user.is_staff
    assert str(person.principal.pk) in output


def test_create_user_prompts_for_the_password_when_not_given(monkeypatch):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("interactions.management.commands.create_user.getpass", lambda prompt: next(answers))

    create_user("sam", "--role", "supervisor")

    assert get_user_model().objects.get(username="sam").check_password(PASSWORD)


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (("ann", "--role", "agent"), "a user named 'ann' already exists"),
        (("bo", "--role", "boss"), "role must be one of"),
        (("bo", "--role", "agent", "--skills", "bad\tskill"), "skill 1"),
    ],
)
def test_create_user_refuses_what_it_can_before_asking_for_the_password(monkeypatch, args, refusal):
    """A name taken or a role unknown was said only after the password had been typed twice."""
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    asked = []
    monkeypatch.setattr(
        "interactions.management.commands.create_user.getpass",
        lambda prompt: asked.append(prompt) or PASSWORD,
    )

    with pytest.raises(CommandError, match=refusal):
        create_user(*args)
    assert asked == []


def test_create_user_refuses_passwords_that_differ(monkeypatch):
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("interactions.management.commands.create_user.getpass", lambda prompt: next(answers))

    with pytest.raises(CommandError, match="do not match"):
        create_user("sam", "--role", "supervisor")
    assert not get_user_model().objects.exists()


def test_create_user_with_no_password_to_read_says_to_pass_it_and_creates_no_one(monkeypatch):
    def ended(prompt: str) -> str:  # what getpass raises when the input ends (a script, </dev/null)
        raise EOFError

    monkeypatch.setattr("interactions.management.commands.create_user.getpass", ended)

    with pytest.raises(CommandError, match="pass it with --password"):
        create_user("sam", "--role", "supervisor")
    assert not get_user_model().objects.exists()


def test_create_user_cancelled_at_the_password_prompt_says_so_and_creates_no_one(monkeypatch):
    def interrupted(prompt: str) -> str:  # Ctrl-C at the prompt
        raise KeyboardInterrupt

    monkeypatch.setattr("interactions.management.commands.create_user.getpass", interrupted)

    with pytest.raises(CommandError, match="cancelled: no one was created") as cancelled:
        create_user("sam", "--role", "supervisor")
    assert cancelled.value.returncode == 130
    assert not get_user_model().objects.exists()


class Terminal(io.StringIO):
    """The standard input createsuperuser reads from: a terminal (it skips its questions otherwise)."""

    def isatty(self) -> bool:
        return True


def test_createsuperuser_asks_again_for_a_username_or_address_holding_a_card_number(monkeypatch):
    asked: list[str] = []
    answers = iter(["4111-1111-1111-1111", "ada", "ada.4111-1111-1111-1111@example.com", "ada@example.com"])

    def typed(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", typed)
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ": PASSWORD)
    err = io.StringIO()

    call_command("createsuperuser", stdin=Terminal(), stdout=io.StringIO(), stderr=err)

    assert len(asked) == 4 and asked[0].startswith("Username") and asked[2].startswith("Email address")
    assert err.getvalue().count("holds a card number") == 2 and "4111" not in err.getvalue()
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.is_superuser) == ("ada", "ada@example.com", True)


@pytest.mark.parametrize(
    "options, environment, refusal",
    [
        ({"username": "4111111111111111", "email": "a@example.com"}, {}, "The username holds a card number"),
        ({"username": "ada", "email": "4111111111111111@example.com"}, {}, "The email address holds a card"),
        ({}, {"USERNAME": "4111-1111-1111-1111", "EMAIL": "a@example.com"}, "The username holds a card"),
        ({}, {"USERNAME": "ada", "EMAIL": "x\u202e@example.com"}, "invisible or control character (U+202E)"),
    ],
    ids=["--username", "--email", "DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_EMAIL"],
)
def test_createsuperuser_without_questions_refuses_such_names_and_creates_no_one(
    monkeypatch, options, environment, refusal
):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    for name, value in environment.items():
        monkeypatch.setenv(f"DJANGO_SUPERUSER_{name}", value)

    with pytest.raises(CommandError, match=re.escape(refusal)) as refused:
        call_command("createsuperuser", interactive=False, **options, stdout=io.StringIO())

    assert "4111" not in str(refused.value)
    assert not get_user_model().objects.exists()


def test_createsuperuser_without_questions_refuses_a_password_that_is_not_text_and_creates_no_one(
    monkeypatch,
):
    """Bytes that are not UTF-8 in the environment reach Python as lone surrogates; hashing them was a
    traceback."""
    for name, value in {
        "USERNAME": "ada",
        "EMAIL": "ada@example.com",
        "PASSWORD": "ab\udcffcdefgh12",
    }.items():
        monkeypatch.setenv(f"DJANGO_SUPERUSER_{name}", value)

    with pytest.raises(CommandError, match=r"DJANGO_SUPERUSER_PASSWORD contains a lone surrogate"):
        call_command("createsuperuser", interactive=False, stdout=io.StringIO())

    assert not get_user_model().objects.exists()


def test_createsuperuser_refuses_a_username_that_differs_from_a_persons_only_in_case(monkeypatch):
    # create_user and the admin's form refuse it; createsuperuser made a second person, "ADA" beside "ada".
    create_user("ada", "--role", "agent", "--password", PASSWORD)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    with pytest.raises(CommandError, match=re.escape("A person named 'ada' already exists (names are told")):
        call_command(
            "createsuperuser", interactive=False, username="ADA", email="a@example.com", stdout=io.StringIO()
        )

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["ada"]

    # At the prompt, it is asked again.
    answers = iter(["Ada", "ada2", "ada2@example.com"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ": PASSWORD)
    err = io.StringIO()
    call_command("createsuperuser", stdin=Terminal(), stdout=io.StringIO(), stderr=err)
    assert "already exists (names are told apart regardless of case)" in err.getvalue()
    assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["ada", "ada2"]


def test_createsuperuser_still_creates_a_superuser_from_the_environment(monkeypatch):
    for name, value in {"USERNAME": "ada", "EMAIL": "ada@example.com", "PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(f"DJANGO_SUPERUSER_{name}", value)

    call_command("createsuperuser", interactive=False, stdout=io.StringIO())

    user = get_user_model().objects.get()
    assert (user.username, user.is_superuser) == ("ada", True) and user.check_password(PASSWORD)


def test_an_admin_is_django_staff():
    create_user("ada", "--role", "admin", "--password", PASSWORD)

    user = get_user_model().objects.get(username="ada")
    assert user.is_staff and user.is_superuser


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ann", "--role", "agent", "--password", PASSWORD], "already exists"),
        (["ANN", "--role", "agent", "--password", PASSWORD], "already exists"),
        (
            ["bob", "--role", "integration", "--password", PASSWORD],
            "role must be one of agent, supervisor, admin",
        ),
        (["bob", "--role", "boss", "--password", PASSWORD], "role must be one of"),
        (["bob", "--role", "agent", "--password", "123"], "too weak"),
        (["bob", "--role", "agent", "--password", PASSWORD, "--token", "not-a-uuid"], "not a token id"),
        (
            [
                "bob",
                "--role",
                "agent",
                "--password",
                PASSWORD,
                "--token",
                "7b0c3a9e-5a52-4a4e-9c55-2d4d1c0f0d11",
            ],
            "no live token",
        ),
    ],
)
def test_create_user_explains_what_is_wrong_and_writes_nothing(args, message):
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    users, tokens = get_user_model().objects.count(), ApiToken.objects.count()

    with pytest.raises(CommandError, match=message):
        create_user(*args)
    assert (get_user_model().objects.count(), ApiToken.objects.count()) == (users, tokens)


def test_create_user_with_an_existing_agent_token_keeps_its_agent_id():
    token = ApiTokenFactory(role=Role.AGENT, skills=["billing"])

    create_user("ann", "--role", "agent", "--password", PASSWORD, "--token", str(token.pk))

    person = Person.objects.get()
    assert person.principal_id == token.pk and person.principal.skills == ["billing"]
    with pytest.raises(CommandError, match="already belongs to a person"):
        create_user("ann2", "--role", "agent", "--password", PASSWORD, "--token", str(token.pk))
    with pytest.raises(CommandError, match="has the role agent, not supervisor"):
        other = ApiTokenFactory(role=Role.AGENT)
        create_user("sue", "--role", "supervisor", "--password", PASSWORD, "--token", str(other.pk))


def test_the_admins_token_form_does_not_make_a_persons_principal_an_integration(admin_client):
    """create_user refuses a person with the role integration; the admin's token form must not make one
    of a person's principal either (a signed-in integration would post raw events from the desk's session)."""
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    token = Person.objects.get().principal
    form = {"name": token.name, "role": "integration", "source_prefix": "/sms/", "skills": "[]"}

    page = admin_client.post(f"/admin/interactions/apitoken/{token.pk}/change/", form)

    assert page.status_code == 200 and "a person is an agent, supervisor or admin" in page.content.decode()
    assert ApiToken.objects.get(pk=token.pk).role == Role.AGENT
    # A machine's token may still become an integration, and a person's another person's role.
    assert (
        admin_client.post(
            f"/admin/interactions/apitoken/{token.pk}/change/", {**form, "role": "supervisor"}
        ).status_code
        == 302
    )
    machine = ApiTokenFactory(role=Role.AGENT, name="ivr")
    assert (
        admin_client.post(
            f"/admin/interactions/apitoken/{machine.pk}/change/", {**form, "name": "ivr"}
        ).status_code
        == 302
    )
    assert ApiToken.objects.get(pk=machine.pk).role == Role.INTEGRATION


def test_a_persons_admin_flags_follow_the_role_their_token_is_given_in_the_admin(admin_client):
    # A demoted admin kept staff and superuser, so the whole of /admin/, while the API took them for an agent;
    # a promoted agent was an admin in the API who could not reach /admin/.
    create_user("bob", "--role", "admin", "--password", PASSWORD)
    bob = Person.objects.select_related("user", "principal").get()
    form = {"name": bob.principal.name, "source_prefix": "", "skills": "[]"}
    change = f"/admin/interactions/apitoken/{bob.principal.pk}/change/"

    assert admin_client.post(change, {**form, "role": "agent"}).status_code == 302
    bob.user.refresh_from_db()
    assert (bob.user.is_staff, bob.user.is_superuser) == (False, False)
    bob_client = Client()
    bob_client.force_login(bob.user)
    assert bob_client.get("/admin/").status_code == 302  # to the admin's sign-in: not his any more

    assert admin_client.post(change, {**form, "role": "admin"}).status_code == 302
    bob.user.refresh_from_db()
    assert (bob.user.is_staff, bob.user.is_superuser) == (True, True)
    assert bob_client.get("/admin/").status_code == 200


@pytest.mark.parametrize("how", ["revoke_token", "the admin's revoke action"])
def test_a_revoked_admin_loses_the_admin_site_with_the_api(admin_client, how):
    # Revocation cut a person off the API and the desk, but an admin kept staff and superuser, so the whole
    # of /admin/ (where they could make themselves a new token).
    create_user("bob", "--role", "admin", "--password", PASSWORD)
    create_user("eve", "--role", "admin", "--password", PASSWORD)
    bob, eve = (
        Person.objects.select_related("user", "principal").get(user__username=n) for n in ("bob", "eve")
    )
    bob_client = Client()
    bob_client.force_login(bob.user)
    assert bob_client.get("/admin/").status_code == 200

    if how == "revoke_token":
        call_command("revoke_token", str(bob.principal.pk), stdout=io.StringIO())
    else:
        page = admin_client.post(
            "/admin/interactions/apitoken/",
            {"action": "revoke", "_selected_action": [str(bob.principal.pk)]},
        )
        assert page.status_code == 302

    bob.user.refresh_from_db()
    eve.user.refresh_from_db()
    assert (bob.user.is_staff, bob.user.is_superuser) == (False, False)
    assert bob_client.get("/admin/").status_code == 302  # to the admin's sign-in
    assert (eve.user.is_staff, eve.user.is_superuser) == (True, True)  # only the revoked one


def test_the_admins_user_page_shows_a_persons_admin_flags_but_leaves_them_to_the_role(admin_client):
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    ann = Person.objects.get().user
    machine_user = get_user_model().objects.create_user("ops")

    page = admin_client.get(f"/admin/auth/user/{ann.pk}/change/")
    other = admin_client.get(f"/admin/auth/user/{machine_user.pk}/change/")

    form = page.context["adminform"].form
    assert "is_superuser" not in form.fields and "is_staff" not in form.fields  # shown, not editable
    assert "is_superuser" in other.context["adminform"].form.fields
    data = {**user_change_form(ann), "is_superuser": "on", "is_staff": "on"}
    assert admin_client.post(f"/admin/auth/user/{ann.pk}/change/", data).status_code == 302
    ann.refresh_from_db()
    assert (ann.is_staff, ann.is_superuser) == (False, False)


def test_the_migration_clears_the_admin_flags_of_people_who_are_not_admins_and_grants_none():
    # With the historical models `migrate` runs it with.
    create_user("bob", "--role", "admin", "--password", PASSWORD)
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    get_user_model().objects.filter(username="ann").update(is_staff=True, is_superuser=True)  # as before
    get_user_model().objects.filter(username="bob").update(is_staff=False)  # cut off from /admin/: stays so
    get_user_model().objects.create_user("ops", is_staff=True)  # no person: left alone
    historical = MigrationExecutor(connection).loader.project_state(
        ("people", "0002_person_flags_follow_role")
    )

    import_module("interactions.people.migrations.0002_person_flags_follow_role").flags_from_roles(
        historical.apps, None
    )

    flags = {u.username: (u.is_staff, u.is_superuser) for u in get_user_model().objects.all()}
    assert flags == {"bob": (False, True), "ann": (False, False), "ops": (True, False)}


def test_only_a_superuser_may_give_or_take_the_admin_role_in_the_admin(client):
    # Staff allowed to change tokens could make a person an admin, and so a Django superuser (review).
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    ann = Person.objects.select_related("user", "principal").get()
    ops = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    ops.user_permissions.set(Permission.objects.filter(codename__in=["change_apitoken", "view_apitoken"]))
    client.force_login(ops)
    form = {"name": ann.principal.name, "source_prefix": "", "skills": "[]"}
    change = f"/admin/interactions/apitoken/{ann.principal.pk}/change/"

    page = client.post(change, {**form, "role": "admin"})

    assert (
        page.status_code == 200
        and "Only a superuser may give or take the admin role." in page.content.decode()
    )
    ann.user.refresh_from_db()
    assert ApiToken.objects.get(pk=ann.principal.pk).role == Role.AGENT
    assert (ann.user.is_staff, ann.user.is_superuser) == (False, False)
    assert client.post(change, {**form, "role": "supervisor"}).status_code == 302  # other roles: as before


def test_a_revoked_admin_given_the_admin_role_again_gets_no_admin_flags(admin_client):
    create_user("bob", "--role", "admin", "--password", PASSWORD)
    bob = Person.objects.select_related("user", "principal").get()
    token_revoke(bob.principal)
    change = f"/admin/interactions/apitoken/{bob.principal.pk}/change/"
    form = {"name": bob.principal.name, "source_prefix": "", "skills": "[]"}

    assert admin_client.post(change, {**form, "role": "agent"}).status_code == 302
    assert admin_client.post(change, {**form, "role": "admin"}).status_code == 302

    bob.user.refresh_from_db()
    assert (bob.user.is_staff, bob.user.is_superuser) == (False, False)


def post_event(token):
    return client_for(token).post(
        "/api/v1/events", json.dumps(cloud_event()), content_type="application/cloudevents+json"
    )


def signed_in(name: str, role: str, *, csrf: bool = False) -> tuple[APIClient, Person]:
    create_user(name, "--role", role, "--password", PASSWORD)
    client = APIClient(enforce_csrf_checks=csrf)
    person = Person.objects.get(user__username=name)
    assert person.user.check_password(PASSWORD)
    client.force_login(person.user)  # the sign-in form needs a request (its lockout): tested on its own
    return client, person


def test_a_session_reads_context_and_acts_under_its_roles_rules(integration_token):
    posted = post_event(integration_token)
    assert posted.status_code == 201, posted.json()
    agent, person = signed_in("ann", "agent")

    assert agent.get("/api/v1/context", {"identifier": "tel:+15551234567"}).status_code == 200
    refused = agent.get("/api/v1/events", {"after": 0})
    assert refused.status_code == 403 and "may not read the raw log" in refused.json()["detail"]
    thread_id = posted.json()["thread_id"]
    taken = agent.post(f"/api/v1/threads/{thread_id}/assign", {}, format="json")
    assert taken.status_code == 201, taken.json()
    assert taken.json()["thread"]["assigned_agent"] == str(person.principal.pk)  # the principal's agent_id
    mine = agent.get("/api/v1/threads", {"agent": str(person.principal.pk)})
    assert [t["id"] for t in mine.json()["results"]] == [thread_id]
    assert agent.get("/api/v1/threads", {"agent": str(uuid.uuid4())}).json()["results"] == []

    supervisor, _ = signed_in("sam", "supervisor")
    assert supervisor.get("/api/v1/events", {"after": 0}).status_code == 200


def test_a_session_without_the_csrf_token_may_not_change_anything(integration_token):
    posted = post_event(integration_token)
    agent, _ = signed_in("ann", "agent", csrf=True)

    refused = agent.post(f"/api/v1/threads/{posted.json()['thread_id']}/notes", {"text": "hi"}, format="json")

    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert refused["Content-Type"] == "application/problem+json"
    assert (
        agent.get("/api/v1/context", {"identifier": "tel:+15551234567"}).status_code == 200
    )  # reads are safe


def test_an_admins_session_posts_events_in_every_mode_with_the_csrf_token():
    """Django's CSRF check reads the form body first; given DRF's request, that parsed a CloudEvents body
    with the JSON parser, so a signed-in admin's structured or batch post was refused 415."""
    admin, _ = signed_in("ada", "admin", csrf=True)
    assert admin.get("/desk/").status_code == 200  # sets the csrftoken cookie, as the page does
    csrf = {"HTTP_X_CSRFTOKEN": admin.cookies["csrftoken"].value}

    structured = admin.post(
        "/api/v1/events", json.dumps(cloud_event()), content_type="application/cloudevents+json", **csrf
    )
    batch = admin.post(
        "/api/v1/events",
        json.dumps([cloud_event(), cloud_event()]),
        content_type="application/cloudevents-batch+json",
        **csrf,
    )
    event = cloud_event()
    binary = admin.post(
        "/api/v1/events",
        json.dumps(event["data"]),
        content_type="application/json",
        **{f"HTTP_CE_{k.upper()}": event[k] for k in ("specversion", "id", "source", "type", "subject")},
        **csrf,
    )
    refused = admin.post(
        "/api/v1/events", json.dumps(cloud_event()), content_type="application/cloudevents+json"
    )

    assert structured.status_code == 201, structured.json()
    assert batch.status_code == 201 and len(batch.json()["results"]) == 2, batch.json()
    assert binary.status_code == 201, binary.json()
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_a_revoked_principal_or_an_inactive_user_is_signed_out_of_the_api():
    agent, person = signed_in("ann", "agent")
    token_revoke(person.principal)
    assert agent.get("/api/v1/threads").status_code == 401

    other, person = signed_in("bob", "agent")
    get_user_model().objects.filter(pk=person.user_id).update(is_active=False)
    assert other.get("/api/v1/threads").status_code == 401


def test_a_user_without_a_person_has_no_api_and_no_desk():
    root = get_user_model().objects.create_user("root", password=PASSWORD, is_staff=True)
    client = APIClient()
    client.force_login(root)

    assert client.get("/api/v1/threads").status_code == 401
    page = client.get("/desk/")
    assert page.status_code == 403
    assert b"This account has no role on the desk" in page.content and b"Go to the admin" in page.content
    # create_user makes a new user with its person: it cannot give this user a role (it said it could)
    assert b"a new user name, with its role" in page.content
    assert b'action="/accounts/logout/"' in page.content  # the sign-in page would send them back here


def test_a_person_whose_access_was_revoked_is_told_so_and_may_sign_out():
    # They were told the account had no role, and the page had no way out: the sign-in page sends a
    # signed-in user back to the desk.
    client, person = signed_in("ann", "agent")
    token_revoke(person.principal)

    page = client.get("/desk/")

    assert page.status_code == 403
    assert b"access to the desk has been revoked" in page.content
    assert b"no role" not in page.content and b"Go to the admin" not in page.content
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/desk/").url == "/accounts/login/?next=/desk/"


def test_the_front_door_leads_to_sign_in_and_then_to_the_desk():
    client = APIClient()
    assert client.get("/").url == "/desk/"
    assert client.get("/desk/").url == "/accounts/login/?next=/desk/"
    create_user("ann", "--role", "agent", "--password", PASSWORD)

    signed = client.post("/accounts/login/", {"username": "ann", "password": PASSWORD, "next": "/desk/"})

    assert signed.url == "/desk/"
    page = client.get("/desk/")
    assert page.status_code == 200 and b'"role": "agent"' in page.content
    assert b"desk/desk.js" in page.content


@pytest.mark.parametrize("value", ["\x00", "a" * 129, "", "someone-else"])
def test_a_bad_agent_filter_is_a_400_naming_it(value):
    agent, _ = signed_in("ann", "agent")

    answer = agent.get("/api/v1/threads", {"agent": value})

    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    assert "agent" in json.dumps(answer.json()["errors"])


def test_signed_cookie_sessions_are_refused_at_start_up(settings):
    # They cannot be looked up on the server: the desk's check for ended sessions found none and closed
    # every desk socket within a second of its opening.
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    with pytest.raises(
        ImproperlyConfigured, match="SESSION_ENGINE: signed-cookie sessions cannot be looked up"
    ):
        apps.get_app_config("interactions").ready()
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    apps.get_app_config("interactions").ready()  # the others start


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.file",
    ],
)
def test_a_session_ends_when_its_person_signs_out_or_their_password_changes_with_every_server_engine(
    settings, tmp_path, engine
):
    """What the desk's sockets are closed by (sessions_ended): with each engine README allows."""
    from interactions.people.selectors import sessions_ended

    settings.SESSION_ENGINE = engine
    settings.SESSION_FILE_PATH = str(tmp_path)
    create_user("ann", "--role", "agent", "--password", PASSWORD)
    create_user("bob", "--role", "agent", "--password", PASSWORD)
    sessions = {}
    for name in ("ann", "bob"):
        client = Client()
        assert client.post("/accounts/login/", {"username": name, "password": PASSWORD}).status_code == 302
        sessions[name] = (client, client.cookies[settings.SESSION_COOKIE_NAME].value)
    keys = [key for _, key in sessions.values()]
    assert sessions_ended([*keys, None, "no-such-session"]) == {None, "no-such-session"}

    ann = get_user_model().objects.get(username="ann")
    ann.set_password("a new and longer passphrase")
    ann.save()
    assert sessions_ended(keys) == {sessions["ann"][1]}

    sessions["bob"][0].post("/accounts/logout/")
    assert sessions_ended(keys) == set(keys)


def test_a_new_desk_tab_shows_the_status_the_log_says_while_the_presence_read_model_lags(settings):
    """The page read the presence read model, which a runner applies later: a fresh tab (no position to
    replay from) showed Offline while the dispatcher, reading the log, offered the agent callbacks."""
    from interactions.agents.services import agent_status_set

    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False  # the runner has not applied it yet
    client, person = signed_in("ann", "agent")
    agent_status_set(agent=person.principal, status="available")

    page = client.get("/desk/").content.decode()

    me = re.search(r'<script id="desk-me" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(me.group(1))["status"] == "available"

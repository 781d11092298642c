"""The admin's forms for Django's users and groups: names checked as the commands check them, and a refused
value shown back masked. The card and hostile-input corpora play every format; these are the plain cases."""

import pytest
from django.contrib.auth.models import Group, User

from interactions.privacy.names import name_problem
from tests.interactions.helpers import user_change_form

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"


def test_a_user_and_a_group_with_plain_names_are_created_as_before(admin_client, fast_passwords):
    made = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "ann.lee", "usable_password": "true", "password1": "a long pass phrase", "password2":
         "a long pass phrase"},
    )  # fmt: skip
    grouped = admin_client.post("/admin/auth/group/add/", {"name": "Billing team"})

    assert (made.status_code, grouped.status_code) == (302, 302)
    assert User.objects.get(username="ann.lee").check_password("a long pass phrase")
    assert Group.objects.filter(name="Billing team").exists()


def test_a_card_number_in_a_users_name_is_refused_with_the_reason_and_shown_masked(admin_client):
    user = User.objects.create_user("ann")
    form = user_change_form(user, first_name=f"paid {CARD}", last_name="Lee")

    page = admin_client.post(f"/admin/auth/user/{user.pk}/change/", form)

    text = page.content.decode()
    assert page.status_code == 200
    assert "This first name holds a card number" in text
    assert "paid **** **** **** 1111" in text and CARD not in text and CARD.replace(" ", "") not in text
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("", "")  # nothing of the refused form was saved


def test_a_new_user_named_with_a_card_number_is_not_created(admin_client):
    page = admin_client.post(
        "/admin/auth/user/add/", {"username": "4111111111111111", "usable_password": "false"}
    )

    assert page.status_code == 200
    assert "This username holds a card number" in page.content.decode()
    assert not User.objects.filter(username__contains="1111").exists()


CHANGE_LISTS = [
    "/admin/auth/user/",
    "/admin/auth/group/",
    "/admin/interactions/apitoken/",
    "/admin/people/person/",
    "/admin/connections/connection/",
    "/admin/axes/accessattempt/",
]


@pytest.mark.parametrize("path", CHANGE_LISTS)
def test_a_change_list_searched_for_a_card_number_does_not_show_it_back(admin_client, path):
    from urllib.parse import urlencode

    from tests.corpora import cards

    for fmt, value in cards.in_turn():
        page = admin_client.get(f"{path}?{urlencode({'q': value})}")
        assert page.status_code == 200, (fmt, value)
        assert 'name="q"' in page.content.decode()  # the list with its search box, not an error page
        assert cards.numbers_in(page.content.decode()) == set(), (fmt, value)


def test_every_searchable_list_of_the_admin_is_one_of_those_checked_and_masks_what_is_searched():
    """axes's access and failure logs kept axes's own admin, whose search showed a card number back."""
    from django.contrib import admin

    from interactions.privacy.forms import MaskedQuery

    searchable = {
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/": model_admin
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    }
    assert set(searchable) == set(CHANGE_LISTS), sorted(searchable)
    assert all(isinstance(model_admin, MaskedQuery) for model_admin in searchable.values())


def test_a_users_change_is_saved_with_its_groups_and_password_kept(admin_client, fast_passwords):
    team = Group.objects.create(name="Billing team")
    user = User.objects.create_user("ann", password="a long pass phrase")
    user.groups.add(team)

    page = admin_client.post(f"/admin/auth/user/{user.pk}/change/", user_change_form(user, last_name="Lee"))

    assert page.status_code == 302
    user.refresh_from_db()
    assert user.last_name == "Lee" and list(user.groups.all()) == [team]
    assert user.check_password("a long pass phrase")


def test_a_name_kept_before_the_rule_does_not_stop_deactivating_the_user(admin_client):
    user = User.objects.create_user("bob", first_name="Bo\tb")  # written before names were checked

    page = admin_client.post(f"/admin/auth/user/{user.pk}/change/", user_change_form(user, is_active=None))

    assert page.status_code == 302
    user.refresh_from_db()
    assert not user.is_active and user.first_name == "Bo\tb"


def test_a_name_with_joiners_is_kept():
    # Persian needs the zero-width non-joiner; a joined emoji, the joiner.
    assert name_problem("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", max_length=150) is None
    assert name_problem("\U0001f469\u200d\U0001f4bb support", max_length=150) is None
    assert "U+200B" in name_problem("ann\u200b", max_length=150)
    assert "U+00AD" in name_problem("ann\u00adlee", max_length=150)


@pytest.mark.parametrize("new_name", ["ANN", "Ann", "ann"])
def test_a_user_renamed_to_another_users_name_in_any_case_is_refused(admin_client, new_name):
    """The change form checked the name's case-sensitive uniqueness only: bob could become ANN beside ann."""
    User.objects.create_user("ann")
    bob = User.objects.create_user("bob")

    page = admin_client.post(f"/admin/auth/user/{bob.pk}/change/", user_change_form(bob, username=new_name))

    assert page.status_code == 200
    assert "A user with that username already exists." in page.content.decode()
    bob.refresh_from_db()
    assert bob.username == "bob"


def test_a_user_renamed_to_a_case_variant_of_their_own_name_is_saved(admin_client):
    ann = User.objects.create_user("ann")

    page = admin_client.post(f"/admin/auth/user/{ann.pk}/change/", user_change_form(ann, username="Ann"))

    assert page.status_code == 302
    ann.refresh_from_db()
    assert ann.username == "Ann"

"""Django admin for API tokens (names, roles, agent skills, revocation), people, and Django's own users and
groups, whose names are checked as the commands check them."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import Group, User

from interactions.access.models import ApiToken
from interactions.access.tokens import token_field_problem, token_revoke
from interactions.people.models import Person
from interactions.privacy.names import name_problem, skills_normalised, skills_problem
from interactions.privacy.redaction import redact, redact_text


class ShownBackMasked(forms.BaseForm):
    """A form the admin shows again with what was typed when it refuses it: a value holding a card number is
    refused on what was typed, then shown masked, so the page never repeats the number (as the sign-in form
    and every problem answer do not)."""

    def full_clean(self) -> None:
        super().full_clean()
        if not (self.is_bound and self._errors):
            return
        typed = self.data
        shown = {key: [_shown(self.fields.get(key), v) for v in _values(typed, key)] for key in typed}
        if all(shown[key] == _values(typed, key) for key in typed):
            return
        masked = typed.copy()
        for key, values in shown.items():
            if hasattr(masked, "setlist"):
                masked.setlist(key, values)
            else:
                masked[key] = values[0] if values else ""
        self.data = masked


def _values(data, key: str) -> list:
    return data.getlist(key) if hasattr(data, "getlist") else [data[key]]


def _shown(field: forms.Field | None, value: object) -> object:
    """A typed value as the form may show it back: card numbers masked. A JSON field shows its value
    decoded and dumped again, so a number typed with escapes (`\\u00a0` between its groups) is masked
    in the decoded value."""
    if not isinstance(value, str):
        return value
    if isinstance(field, forms.JSONField):
        try:
            decoded = json.loads(value)
        except ValueError:
            return redact_text(value)
        masked, paths = redact(decoded)
        return json.dumps(masked) if paths else value
    return redact_text(value)


class KeptNames(ShownBackMasked):
    """Text fields of a Django model that are kept and shown back as typed, so checked as names are
    (privacy.names): text every database stores, within the column's length, no card number."""

    names: tuple[str, ...] = ()

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in self.names:
            value = cleaned.get(name)
            if not isinstance(value, str):
                continue
            problem = name_problem(value, max_length=self._meta.model._meta.get_field(name).max_length)
            if problem is not None:
                self.add_error(name, f"This {name.replace('_', ' ')} {problem}.")
        return cleaned


class UserCreationForm(KeptNames, auth_forms.AdminUserCreationForm):
    names = ("username",)


class UserChangeForm(KeptNames, auth_forms.UserChangeForm):
    names = ("username", "first_name", "last_name", "email")


class GroupForm(KeptNames, forms.ModelForm):
    names = ("name",)

    class Meta:
        model = Group
        fields = ("name", "permissions")


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's own, with its names checked. People who sign in to the desk are made with `create_user`."""

    form = UserChangeForm
    add_form = UserCreationForm


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin):
    form = GroupForm


class ApiTokenForm(ShownBackMasked, forms.ModelForm):
    """The same checks as `create_token`: no name, prefix or skill that cannot be kept (privacy.names)."""

    class Meta:
        model = ApiToken
        fields = ("name", "role", "source_prefix", "skills")

    def _name(self, field: str) -> str:
        value = self.cleaned_data[field]
        problem = token_field_problem(field, value)
        if problem is not None:
            raise forms.ValidationError(problem)
        return value

    def clean_name(self) -> str:
        return self._name("name")

    def clean_source_prefix(self) -> str:
        return self._name("source_prefix")

    def clean_skills(self) -> list[str]:
        skills = self.cleaned_data["skills"] or []
        if not isinstance(skills, list):
            raise forms.ValidationError('skills are a list of names, e.g. ["billing", "tech"]')
        problem = skills_problem(skills)
        if problem is not None:
            raise forms.ValidationError(problem)
        return skills_normalised(skills)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "role", "source_prefix", "hint", "created_at", "revoked_at", "id")
    list_filter = ("role", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "source_prefix")
    # Revocation is final (an action, never a field to clear): a leaked token must not come back to life.
    readonly_fields = ("id", "hint", "created_at", "revoked_at")
    fields = ("id", "name", "role", "source_prefix", "skills", "hint", "created_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        # A token's secret is shown only at creation, which the create_token command does.
        return False

    @admin.action(description="Revoke the selected tokens (their websockets close within seconds)")
    def revoke(self, request, queryset) -> None:
        selected = list(queryset)
        revoked = sum(token_revoke(token) for token in selected)
        already = f" ({len(selected) - revoked} already were)" if revoked < len(selected) else ""
        self.message_user(
            request,
            f"Revoked {revoked} token(s){already}; their open websockets close within seconds.",
            messages.SUCCESS,
        )


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    """People who sign in; their role and skills are their principal's (edit skills on the token)."""

    list_display = ("user", "principal", "created_at")
    search_fields = ("user__username",)
    readonly_fields = ("user", "principal", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py create_user` creates the user and its principal together

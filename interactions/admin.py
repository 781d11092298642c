"""Django admin for API tokens (names, roles, agent skills, revocation), people, and Django's own users and
groups, whose names are checked as the commands check them; and the failed sign-ins django-axes keeps."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import Group, User

from interactions.access.models import ApiToken, Role
from interactions.access.tokens import token_field_problem
from interactions.people.models import Person
from interactions.people.services import person_flags_follow_role, principal_revoke, principal_role_problem
from interactions.privacy.forms import MaskedQuery, ShownBackMasked
from interactions.privacy.names import name_problem, skills_normalised, skills_problem


class KeptNames(ShownBackMasked):
    """Text fields of a Django model that are kept and shown back as typed, so checked as names are
    (privacy.names): text every database stores, within the column's length, no card number."""

    names: tuple[str, ...] = ()

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in self.names:
            value = cleaned.get(name)
            # A name kept before a rule existed does not stop other changes (deactivating a user, say).
            if not isinstance(value, str) or (self.instance.pk and name not in self.changed_data):
                continue
            problem = name_problem(value, max_length=self._meta.model._meta.get_field(name).max_length)
            if problem is not None:
                self.add_error(name, f"This {name.replace('_', ' ')} {problem}.")
        return cleaned


class UserCreationForm(KeptNames, auth_forms.AdminUserCreationForm):
    names = ("username",)


class UserChangeForm(KeptNames, auth_forms.UserChangeForm):
    names = ("username", "first_name", "last_name", "email")

    def clean_username(self) -> str:
        """A name another user has in any case is refused, as the add form, `create_user` and
        `createsuperuser` refuse it: renaming bob to ANN beside ann made two sign-ins one name apart."""
        username = self.cleaned_data.get("username")
        if (
            isinstance(username, str)
            and "username" in self.changed_data
            and User.objects.filter(username__iexact=username).exclude(pk=self.instance.pk).exists()
        ):
            raise forms.ValidationError(self.instance.unique_error_message(User, ["username"]))
        return username


class GroupForm(KeptNames, forms.ModelForm):
    names = ("name",)

    class Meta:
        model = Group
        fields = ("name", "permissions")


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(MaskedQuery, auth_admin.UserAdmin):
    """Django's own, with its names checked. People who sign in to the desk are made with `create_user`."""

    form = UserChangeForm
    add_form = UserCreationForm

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and Person.objects.filter(user=obj).exists():
            # A person's flags follow their role, which is edited on their principal token.
            return (*fields, "is_staff", "is_superuser")
        return fields


@admin.register(Group)
class GroupAdmin(MaskedQuery, auth_admin.GroupAdmin):
    form = GroupForm


class ApiTokenForm(ShownBackMasked, forms.ModelForm):
    """The same checks as `create_token`: no name, prefix or skill that cannot be kept (privacy.names)."""

    may_give_admin = False  # set per request by ApiTokenAdmin.get_form: a superuser's

    class Meta:
        model = ApiToken
        fields = ("name", "role", "source_prefix", "skills")

    def _unchanged(self, field: str) -> bool:
        """A value kept before a rule existed does not stop other changes (see KeptNames)."""
        return bool(self.instance.pk) and field not in self.changed_data

    def _name(self, field: str) -> str:
        value = self.cleaned_data[field]
        if self._unchanged(field):
            return value
        problem = token_field_problem(field, value)
        if problem is not None:
            raise forms.ValidationError(problem)
        return value

    def clean_name(self) -> str:
        return self._name("name")

    def clean_source_prefix(self) -> str:
        return self._name("source_prefix")

    def clean(self) -> dict:
        cleaned = super().clean()
        # As create_token: every source starts with an empty prefix, so an integration without one would post
        # for any source and read the whole log.
        if (
            cleaned.get("role") == Role.INTEGRATION
            and not cleaned.get("source_prefix")
            and "source_prefix" not in self.errors
        ):
            self.add_error(
                "source_prefix",
                "an integration token needs a source prefix, the start of the sources it posts for and reads",
            )
        role = cleaned.get("role")
        if self.instance.pk and role and "role" in self.changed_data:
            if Role.ADMIN in (role, self.initial.get("role")) and not self.may_give_admin:
                # The admin role is every right of the API, and a person's is /admin/ as a superuser.
                self.add_error("role", "Only a superuser may give or take the admin role.")
            problem = principal_role_problem(self.instance, role)
            if problem is not None:
                self.add_error("role", problem)
        return cleaned

    def clean_skills(self) -> list[str]:
        skills = self.cleaned_data["skills"] or []
        if self._unchanged("skills"):
            return skills
        if not isinstance(skills, list):
            raise forms.ValidationError('skills are a list of names, e.g. ["billing", "tech"]')
        problem = skills_problem(skills)
        if problem is not None:
            raise forms.ValidationError(problem)
        return skills_normalised(skills)


@admin.register(ApiToken)
class ApiTokenAdmin(MaskedQuery, admin.ModelAdmin):
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"may_give_admin": request.user.is_superuser})

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "role" in form.changed_data:
            person_flags_follow_role(obj)

    @admin.action(description="Revoke the selected tokens (their websockets close within seconds)")
    def revoke(self, request, queryset) -> None:
        selected = list(queryset)
        revoked = sum(principal_revoke(token) for token in selected)
        already = f" ({len(selected) - revoked} already were)" if revoked < len(selected) else ""
        self.message_user(
            request,
            f"Revoked {revoked} token(s){already}; their open websockets close within seconds.",
            messages.SUCCESS,
        )


@admin.register(Person)
class PersonAdmin(MaskedQuery, admin.ModelAdmin):
    """People who sign in; their role and skills are their principal's (edit skills on the token)."""

    list_display = ("user", "principal", "created_at")
    search_fields = ("user__username",)
    readonly_fields = ("user", "principal", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # `manage.py create_user` creates the user and its principal together


# axes's own list of failed sign-ins, searched as every list here is: a card number searched for is not shown
# back (what it lists was masked before it was stored: interactions/people/signin.py).
admin.site.unregister(AccessAttempt)
# axes's logs of sign-ins and of failures are not kept (AXES_DISABLE_ACCESS_LOG, and no failure log): their
# lists were always empty, and their search showed a card number searched for back.
for _model in (AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(AccessAttempt)
class SignInAttemptAdmin(MaskedQuery, AccessAttemptAdmin):
    pass

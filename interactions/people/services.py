"""People services: create a person (a user with a role and skills) acting as a new or an existing agent
identity."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from hub.errors import ApplicationError
from hub.storable import text_problem
from interactions.access.models import ApiToken, Role
from interactions.access.tokens import token_create, token_revoke
from interactions.people.models import Person
from interactions.privacy.names import name_problem, skills_normalised, skills_problem

PERSON_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


class PersonError(ApplicationError):
    """A person cannot be created as asked (duplicate name, bad role, weak password, unusable token)."""


def person_create(
    *,
    username: str,
    role: str,
    password: str,
    skills: list[str] | None = None,
    token_id: str | None = None,
    check_password: bool = True,
) -> Person:
    """Create the user and its principal in one transaction; with `token_id`, act as that existing token.

    Admins are Django staff and superusers (they use /admin/); agents and supervisors are neither.
    """
    username = person_check(username=username, role=role, skills=skills)
    users = get_user_model()
    user = users(username=username, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN)
    problem = text_problem(password)
    if problem is not None:
        raise PersonError(f"the password {problem}")
    if check_password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise PersonError("the password is too weak: " + " ".join(exc.messages)) from exc
    with transaction.atomic():
        if token_id:
            principal = _existing_principal(token_id, role, skills)
        else:
            principal, _secret = token_create(name=username, role=role, skills=skills_normalised(skills))
            # The secret is dropped here: this identity is reached by signing in, never by a bearer token.
        user.set_password(password)
        user.save()
        return Person.objects.create(user=user, principal=principal)


def person_check(*, username: str, role: str, skills: list[str] | None = None) -> str:
    """The name (trimmed), if a person of it with this role and these skills may be created: else
    PersonError saying why. Before a password is asked for (create_user), so that it is not typed twice
    for nothing."""
    username = username.strip()
    if not username:
        raise PersonError("a name is required")
    users = get_user_model()
    _check_username(users, username)
    if role not in PERSON_ROLES:
        raise PersonError(f"role must be one of {', '.join(PERSON_ROLES)} (not {role!r})")
    problem = skills_problem(skills or [])
    if problem is not None:
        raise PersonError(problem)
    if existing := users.objects.filter(username__iexact=username).values_list("username", flat=True).first():
        same = "" if existing == username else " (names are told apart regardless of case)"
        raise PersonError(f"a user named {existing!r} already exists{same}")
    return username


def principal_role_problem(token: ApiToken, role: str) -> str | None:
    """Why `token` may not take `role`, or None: a person's principal keeps a person's role (agent,
    supervisor or admin), as `person_create` gives it; an integration's rules (a source prefix, posting raw
    events) are a machine's."""
    if role in PERSON_ROLES:
        return None
    person = Person.objects.filter(principal=token).select_related("user").first()
    if person is None:
        return None
    return (
        f"this token is the principal of {person.user.get_username()!r}, who signs in: a person is an"
        f" {', '.join(PERSON_ROLES[:-1])} or {PERSON_ROLES[-1]}, never {role}"
    )


def person_flags_follow_role(token: ApiToken) -> None:
    """The Django staff and superuser flags of the person whose principal is `token` follow its role, as
    `person_create` sets them: an agent's or supervisor's are cleared (a demoted admin loses /admin/ at
    once), an admin's set unless the token is revoked. Nothing when no person acts as the token."""
    admin = token.role == Role.ADMIN and token.revoked_at is None
    get_user_model().objects.filter(person__principal=token).update(is_staff=admin, is_superuser=admin)


def principal_revoke(token: ApiToken) -> bool:
    """Revoke `token` for good (`token_revoke`); True if this call revoked it. A person acting as it loses
    the Django staff and superuser flags with it: a revoked admin's /admin/ goes with the API's access."""
    with transaction.atomic():
        revoked = token_revoke(token)
        token.refresh_from_db(fields=["revoked_at"])
        person_flags_follow_role(token)
    return revoked


def _check_username(users, username: str) -> None:
    """The user model's own rules (length, letters, digits and @.+-_ only), then no card number."""
    field = users._meta.get_field(users.USERNAME_FIELD)
    problem = name_problem(username, max_length=field.max_length)
    if problem is not None:
        raise PersonError(f"the name {problem}")
    try:
        field.run_validators(username)
    except ValidationError as exc:
        raise PersonError("the name is not a valid username: " + " ".join(exc.messages)) from exc


def _existing_principal(token_id: str, role: str, skills: list[str] | None) -> ApiToken:
    try:
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    except ValidationError as exc:
        raise PersonError(f"{token_id!r} is not a token id") from exc
    if token is None or token.revoked_at is not None:
        raise PersonError(f"no live token with id {token_id}")
    if token.role != role:
        raise PersonError(f"token {token_id} has the role {token.role}, not {role}")
    if Person.objects.filter(principal=token).exists():
        raise PersonError(f"token {token_id} already belongs to a person")
    if skills is not None:
        token.skills = skills_normalised(skills)
        token.save(update_fields=["skills"])
    return token

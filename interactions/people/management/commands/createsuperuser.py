"""`manage.py createsuperuser`: Django's own, with the username and e-mail address checked as `create_user`
and the admin check names (interactions.privacy.names): one holding a card number, or a control or
invisible character, or one that differs from an existing person's only in case, is refused with the reason
(asked again at the prompt), and nothing is stored; so is a
DJANGO_SUPERUSER_PASSWORD that is not text (bytes that are not UTF-8).

It replaces Django's command because its app is listed before `django.contrib.auth` in INSTALLED_APPS (of
two commands of one name, Django runs the one of the app listed first)."""

from __future__ import annotations

import os

from django.contrib.auth.management.commands import createsuperuser
from django.core.management.base import CommandError

from hub.management.base import MigratedCommand
from hub.storable import text_problem
from interactions.privacy.names import name_problem

# Django's User: the username field and the one field its REQUIRED_FIELDS names.
CHECKED = ("username", "email")


class Command(MigratedCommand, createsuperuser.Command):
    help = createsuperuser.Command.help + " Names holding a card number are refused, as create_user does."

    def handle(self, *args, **options) -> None:
        for name in CHECKED:
            given = options.get(name)
            if not options["interactive"] and not given:
                given = os.environ.get(f"DJANGO_SUPERUSER_{name.upper()}")
            problem = self._problem(name, given)
            if problem is not None:
                raise CommandError(problem)
        # Django hashes the environment's password unchecked: bytes that are not UTF-8 (a lone surrogate
        # here) ended in a traceback.
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") if not options["interactive"] else None
        if password and (problem := text_problem(password)) is not None:
            raise CommandError(f"DJANGO_SUPERUSER_PASSWORD {problem}.")
        return super().handle(*args, **options)

    def get_input_data(self, field, message, default=None):
        value = super().get_input_data(field, message, default)
        problem = self._problem(field.name, value)
        if problem is not None:
            self.stderr.write(f"Error: {problem}")
            return None  # Django asks again
        return value

    def _problem(self, name: str, value: object) -> str | None:
        if name not in CHECKED or not isinstance(value, str) or not value:
            return None
        field = self.UserModel._meta.get_field(name)
        problem = name_problem(value, max_length=field.max_length)
        if problem is not None:
            return f"The {field.verbose_name} {problem}."
        if name == "username":  # as create_user and the admin's form: Ann and ann are one person's name
            existing = self.UserModel.objects.filter(username__iexact=value).exclude(username=value).first()
            if existing is not None:
                return (
                    f"A person named {existing.username!r} already exists (names are told apart regardless"
                    " of case)."
                )
        return None

"""`manage.py create_token <name> --role ...`: create an API token and print it, alone, on the last line."""

from django.core.management.base import CommandError, CommandParser

from hub.management.base import MigratedCommand
from interactions.access.models import Role
from interactions.access.tokens import token_create


class Command(MigratedCommand):
    help = (
        "Create an API token. The token is shown once, on the last line of the output; only its hash is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who or what uses the token, e.g. 'sms-gateway' or 'Jane Doe'.")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--source",
            default="",
            help="Integration tokens: the prefix of the CloudEvents sources it may post for (required).",
        )
        parser.add_argument("--skills", default="", help="Agents: comma-separated skills, e.g. billing,tech.")

    def handle(self, *args, name: str, role: str, source: str, skills: str, **options) -> None:
        try:
            token, raw = token_create(name=name, role=role, source_prefix=source, skills=skills.split(","))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created {token.role} token {token.name!r} (id {token.pk}). It will not be shown again."
        )
        self.stdout.write(raw)

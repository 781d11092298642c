"""`manage.py add_connection <provider> <name> --<secret> ...`: create a connection, print its hook paths."""

from django.core.management.base import CommandError, CommandParser

from hub.management.base import MigratedCommand
from interactions.connections.providers import hook_paths
from interactions.connections.services import ConnectionInvalid, connection_create


class Command(MigratedCommand):
    help = (
        "Create a provider connection and print its webhook paths, one per line as '<purpose> <path>'. "
        "twilio: --auth-token; meta: --app-secret and --verify-token; email: --secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("provider", help="twilio, meta or email")
        parser.add_argument("name", help="The connection's name in its URLs (letters, digits, - and _).")
        parser.add_argument("--auth-token", help="twilio: the account's auth token (signs every request)")
        parser.add_argument("--app-secret", help="meta: the app secret (signs every POST)")
        parser.add_argument("--verify-token", help="meta: the verify token of the GET handshake")
        parser.add_argument("--secret", help="email: the bearer secret the mail side sends")

    def handle(self, *args, provider: str, name: str, **options) -> None:
        secrets = {k: options[k] for k in ("auth_token", "app_secret", "verify_token", "secret")}
        try:
            connection = connection_create(provider=provider, name=name, secrets=secrets)
        except ConnectionInvalid as exc:
            raise CommandError(exc.detail) from exc
        for purpose, path in hook_paths(connection.provider, connection.name):
            self.stdout.write(f"{purpose} {path}")

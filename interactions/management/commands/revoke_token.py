"""`manage.py revoke_token <id> [<id> ...]`: revoke API tokens; their open websockets close within seconds."""

import uuid

from django.core.management.base import CommandError, CommandParser

from hub.management.base import MigratedCommand
from interactions.access.tokens import token_get
from interactions.people.services import principal_revoke


class Command(MigratedCommand):
    help = (
        "Revoke API tokens by id (create_token prints it; the admin lists it). From then on they "
        "authenticate nowhere, and every server closes their open websockets with 4401 within seconds. "
        "Revocation is final."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="+", metavar="id", help="A token's id (a UUID).")

    def handle(self, *args, ids: list[str], **options) -> None:
        tokens = {}  # by id: a token named twice (or spelt in two cases) is revoked once
        for raw in ids:  # every id is checked before any token is revoked
            try:
                token = token_get(uuid.UUID(raw))
            except ValueError as exc:
                raise CommandError(f"{raw!r} is not a token id (a UUID)") from exc
            if token is None:
                raise CommandError(f"no token {raw}")
            tokens.setdefault(token.pk, token)
        for token in tokens.values():
            if principal_revoke(token):
                self.stdout.write(f"Revoked {token.role} token {token.name!r} (id {token.pk}).")
                continue
            # Revoked before this command, or by another process since it read the token: read when.
            revoked_at = getattr(token_get(token.pk), "revoked_at", None)
            when = f" ({revoked_at:%Y-%m-%d %H:%M:%S %Z})" if revoked_at else ""
            self.stdout.write(
                f"The {token.role} token {token.name!r} (id {token.pk}) was already revoked{when}."
            )

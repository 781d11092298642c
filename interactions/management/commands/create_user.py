"""`manage.py create_user NAME --role agent|supervisor|admin [--skills a,b] [--password P] [--token ID]`:
create a person who signs in to the desk."""

from getpass import getpass

from django.core.management.base import CommandError, CommandParser

from hub.management.base import MigratedCommand
from interactions.people.services import PERSON_ROLES, PersonError, person_check, person_create


class Command(MigratedCommand):
    help = "Create a person who signs in with a username and password (agents use the desk at /desk/)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The username they sign in with.")
        # Checked by the service, so a bad role gets the same sentence wherever it comes from.
        parser.add_argument("--role", required=True, help=f"One of {', '.join(PERSON_ROLES)}.")
        parser.add_argument("--skills", default=None, help="Agents: comma-separated skills (billing,tech).")
        parser.add_argument(
            "--password", default=None, help="The password (prompted for, twice, when not given)."
        )
        parser.add_argument(
            "--token",
            default=None,
            help="The id of an existing token of that role this person acts as (keeps its agent_id).",
        )

    def handle(self, *args, name: str, role: str, skills, password, token, **options) -> None:
        try:
            if password is None:  # asked once what can be checked without it has been
                person_check(
                    username=name, role=role, skills=skills.split(",") if skills is not None else None
                )
                password = _asked()
            person = person_create(
                username=name,
                role=role,
                password=password,
                skills=skills.split(",") if skills is not None else None,
                token_id=token,
            )
        except PersonError as exc:
            raise CommandError(str(exc)) from exc
        principal = person.principal
        skills_note = f", skills {', '.join(principal.skills)}" if principal.skills else ""
        self.stdout.write(f"Created {principal.role} {name!r} (agent id {principal.pk}{skills_note}).")


def _asked() -> str:
    """The password typed twice at the terminal (or, with none, read from the input: two lines). Input that
    ends first (a script's, /dev/null) is told to pass it with --password instead of a traceback, and Ctrl-C
    at the prompt is told that no one was created."""
    try:
        password = getpass("Password: ")
        again = getpass("Password (again): ")
    except EOFError as exc:
        raise CommandError("the input ended before the password was typed: pass it with --password") from exc
    except KeyboardInterrupt:  # Ctrl-C at the prompt: a sentence and the shell's 130, not a traceback
        raise CommandError("cancelled: no one was created", returncode=130) from None
    if password != again:
        raise CommandError("the passwords do not match")
    return password

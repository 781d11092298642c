"""`manage.py subscriptions`: list them with position, lag and state; resume one; skip its failed event."""

import json
import os
import sys

from django.core.management.base import CommandError, CommandParser

from hub import subscriptions
from hub.errors import ApplicationError
from hub.management.base import MigratedCommand


class Command(MigratedCommand):
    help = "List subscriptions (position, lag, state, last error), resume a parked one, or skip its event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", dest="as_json", action="store_true", help="As `list --json`.")
        actions = parser.add_subparsers(dest="action")
        listing = actions.add_parser("list", help="Every subscription with its position, lag and state.")
        listing.add_argument("--json", action="store_true", help="One JSON object per line.")
        resume = actions.add_parser("resume", help="Retry a parked subscription now.")
        resume.add_argument("name")
        skip = actions.add_parser("skip", help="Skip the event a parked subscription failed on (recorded).")
        skip.add_argument("name")
        skip.add_argument("position", type=int, help="The failed position, as `list` shows it.")
        skip.add_argument("--reason", required=True, help="Why; kept with the record of the skip.")

    def handle(self, *args, action: str | None = None, **options) -> None:
        try:
            if action == "resume":
                row = subscriptions.resume(options["name"])
                self.stdout.write(f"{row.name}: retrying from position {row.position}")
            elif action == "skip":
                skipped = subscriptions.skip(options["name"], options["position"], reason=options["reason"])
                self.stdout.write(f"{skipped.subscription}: skipped position {skipped.position}")
            else:
                self._list(as_json=options.get("json", False) or options["as_json"])
            self.stdout.flush()  # here, not at the interpreter's exit: a closed pipe is met in the handler
        except ApplicationError as exc:
            raise CommandError(exc.detail) from exc
        except BrokenPipeError:
            # The reader went away (`subscriptions --json | head -1`): stop quietly, as `ls | head` does.
            # Python's own advice: point stdout at /dev/null so the interpreter's final flush fails no more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)

    def _list(self, *, as_json: bool) -> None:
        rows = subscriptions.status()
        if as_json:
            for row in rows:
                self.stdout.write(json.dumps(row.as_dict()))
            return
        self.stdout.write(
            f"{'name':<16} {'position':>10} {'head':>10} {'lag':>8} {'lag s':>8}  {'state':<8} runner / error"
        )
        for row in rows:
            detail = row.runner or "(no runner)"
            if row.error:
                detail = f"{detail}; failed at {row.failed_position} ({row.attempts} attempts): {row.error}"
            self.stdout.write(
                f"{row.name:<16} {row.position:>10} {row.head:>10} {row.lag_events:>8}"
                f" {row.lag_seconds:>8.1f}  {row.state:<8} {detail}"
            )
        for warning in [
            *subscriptions.unattended(rows),
            *subscriptions.parked(rows),
            *subscriptions.outdated(rows),
        ]:
            self.stderr.write(f"warning: {warning}")

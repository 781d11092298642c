"""`manage.py run_subscriptions`: a runner process that applies the registered subscriptions until stopped."""

import signal

from django.core.management.base import CommandError, CommandParser

from hub.management.base import MigratedCommand
from hub.runner import Runner


class Command(MigratedCommand):
    help = (
        "Apply every registered subscription (or those named) as the log grows. Run one or more: each "
        "subscription is applied by one runner at a time, and a dead runner's are taken over within seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Only these subscriptions (default: all).")

    def handle(self, *args, names: list[str], **options) -> None:
        try:
            runner = Runner(names or None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: runner.stop())
        self.stdout.write(
            f"Runner {runner.owner}: {', '.join(runner.names) or 'no subscriptions registered'}"
        )
        self.stdout.flush()
        runner.run()
        if runner.unreleased:
            self.stdout.write(
                f"Runner {runner.owner} stopped; the database kept it from releasing"
                f" {', '.join(runner.unreleased)}: another runner takes them once their lease expires"
                f" (within {runner.ttl.total_seconds():g} s)."
            )
        else:
            self.stdout.write(f"Runner {runner.owner} stopped; its leases are released.")

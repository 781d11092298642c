"""`manage.py rebuild_projections`: replay the log from position 0 into the read models, offline (every
projection, appends wait) or online (subscriptions, into new tables swapped in once caught up)."""

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from hub import log, projections, subscriptions
from hub.errors import ApplicationError
from hub.management.base import MigratedCommand
from hub.rebuild import online, rebuild

# A page is read whole into memory: far more than this and a rebuild would hold the log in memory.
MAX_PAGE = 1_000_000


class Command(MigratedCommand):
    help = (
        "Rebuild the read models from the whole log. By default offline: every projection, inline and "
        "subscribed, in one transaction; appends wait while it runs. With --online (PostgreSQL): the named "
        "subscriptions (default: every one that declares its tables) into new tables, while appends, reads "
        "and runners go on; the new tables replace the live ones in one short transaction once caught up."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--online",
            dest="online_names",
            nargs="*",
            metavar="NAME",
            help="Rebuild these subscriptions online (no name: every one that can be). On SQLite the whole "
            "rebuild runs offline instead, with a notice.",
        )
        parser.add_argument(
            "--page-size",
            type=int,
            default=None,
            help=f"Events per committed page of an online rebuild (default {online.PAGE:,}).",
        )

    def handle(
        self, *args, online_names: list[str] | None = None, page_size: int | None = None, **options
    ) -> None:
        if page_size is not None and not 1 <= page_size <= MAX_PAGE:
            raise CommandError(f"--page-size must be a number of events from 1 to {MAX_PAGE:,}")
        if page_size is not None and online_names is None:
            raise CommandError("--page-size applies to an online rebuild (--online)")
        quiet = options["verbosity"] == 0
        unknown = sorted(set(online_names or ()) - set(subscriptions.registered()))
        inline = [name for name in unknown if name in projections.inline_names()]
        if inline:
            what = "is an inline projection" if len(inline) == 1 else "are inline projections"
            raise CommandError(
                f"{', '.join(inline)} {what} (written by every append): rebuilt offline only, by"
                " rebuild_projections without --online"
            )
        if unknown:
            raise CommandError(f"no subscription named {', '.join(unknown)}")
        if online_names is not None and not online.supported():
            self.stderr.write(
                "An online rebuild needs PostgreSQL; on SQLite every projection is rebuilt offline instead "
                "(appends wait meanwhile)."
            )
            online_names = None
        try:
            if online_names is None:
                self._offline(quiet)
            else:
                self._online(online_names, page_size, quiet)
        except KeyboardInterrupt:  # Ctrl-C: say what it leaves, not a traceback; 130 as a shell reports it
            raise CommandError(
                "interrupted: nothing was changed (an offline rebuild commits all at once); run it again"
                if online_names is None
                else "interrupted: the live tables are untouched; run it again to resume from its last"
                " committed page",
                returncode=130,
            ) from None

    def _offline(self, quiet: bool) -> None:
        # The events to replay are counted again once the rebuild holds its locks: appends may come first.
        total = log.count()
        with tqdm(total=total, unit="event", desc="replaying", disable=quiet, file=self.stderr._out) as bar:

            def counted(n: int) -> None:
                bar.total = n
                bar.refresh()

            try:  # quiet, no count under the rebuild's locks: nobody would see it
                replayed = rebuild(progress=bar.update, total=None if quiet else counted)
            except ApplicationError as exc:
                raise CommandError(exc.detail) from exc
        names = ", ".join([*(p.name for p in projections.projectors()), *subscriptions.registered()])
        self.stdout.write(f"Rebuilt {names or 'no projections'} from {replayed} events.")

    def _online(self, names: list[str], page_size: int | None, quiet: bool) -> None:
        # In positions, so a resumed rebuild starts part way; the first total is the log's head (without
        # one the bar drew "0event"), and it grows with the log.
        head = log.last_position()
        with tqdm(
            total=head, unit="event", desc="replaying online", disable=quiet, file=self.stderr._out
        ) as bar:

            def step(position: int, head: int) -> None:
                bar.total = max(head, position)  # a page may read past the head it was told
                bar.update(position - bar.n)

            try:
                outcome = online.rebuild_online(names or None, page=page_size, progress=step)
            except ApplicationError as exc:
                raise CommandError(exc.detail) from exc
            bar.total = max(bar.total or 0, outcome.position)  # a shadow already at the head reports no page
            bar.update(outcome.position - bar.n)
        for note in outcome.notes:
            self.stdout.write(note)
        resumed = f", resumed from position {outcome.resumed_from}" if outcome.resumed_from else ""
        self.stdout.write(
            f"Rebuilt {', '.join(outcome.names)} online from {outcome.replayed} events{resumed}: the new "
            f"tables serve from position {outcome.position} "
            f"(swapped in {outcome.swap_seconds * 1000:.0f} ms, "
            f"{outcome.swap_attempts} attempt{'s' if outcome.swap_attempts != 1 else ''})."
        )

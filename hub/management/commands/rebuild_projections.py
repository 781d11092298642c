"""`manage.py rebuild_projections`: drop every read model and replay the log from position 0."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from hub import projections, subscriptions
from hub.models import StoredEvent
from hub.rebuild import rebuild


class Command(BaseCommand):
    help = "Drop every read model and replay the whole log, in one transaction. Appends wait while it runs."

    def handle(self, *args, **options) -> None:
        total = StoredEvent.objects.count()
        with tqdm(total=total, unit="event", desc="replaying", disable=options["verbosity"] == 0) as bar:
            replayed = rebuild(progress=bar.update)
        names = ", ".join([*(p.name for p in projections.projectors()), *subscriptions.registered()])
        self.stdout.write(f"Rebuilt {names or 'no projections'} from {replayed} events.")

"""manage.py nba_takeup: how often agents took up and dismissed each next best action rule."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder

from hub.management.base import MigratedCommand
from interactions.nba.selectors import take_up_list


class Command(MigratedCommand):
    help = (
        "Each next best action rule's take-up: taken, dismissed, and the share taken (from the nba read"
        " model, which a runner applies)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args, **options) -> None:
        rows = take_up_list()
        if options["json"]:
            for row in rows:
                self.stdout.write(json.dumps(row, cls=DjangoJSONEncoder))
            return
        self.stdout.write(f"{'rule':<32} {'taken':>7} {'dismissed':>9} {'take-up':>8}")
        for row in rows:
            share = f"{row['take_up']:.0%}" if row["take_up"] is not None else "-"
            name = row["rule_id"] + ("" if row["in_file"] else " (not in the file)")
            self.stdout.write(f"{name:<32} {row['taken']:>7} {row['dismissed']:>9} {share:>8}")

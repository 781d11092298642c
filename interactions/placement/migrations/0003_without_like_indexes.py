"""Read models keyed by strings looked up whole: no LIKE index beside their primary key (PostgreSQL; see
hub.migration_operations)."""

from django.db import migrations

from hub.migration_operations import WithoutPatternIndex


class Migration(migrations.Migration):
    dependencies = [("placement", "0002_from_the_read_models")]

    operations = [
        WithoutPatternIndex("PlacedIdentifier", "uri"),
        WithoutPatternIndex("PlacedRef", "ref"),
    ]

"""The context projector became one projector per read model: each starts where the old one had reached."""

from django.db import migrations

NAMES = ("customers", "threads", "callbacks", "presence")

SPLIT = [
    "INSERT INTO hub_projection_checkpoint (name, position, updated_at, last_error, failed_position)"
    f" SELECT '{name}', position, updated_at, last_error, failed_position FROM hub_projection_checkpoint"
    " WHERE name = 'context'"
    for name in NAMES
] + ["DELETE FROM hub_projection_checkpoint WHERE name = 'context'"]

JOIN = [
    "INSERT INTO hub_projection_checkpoint (name, position, updated_at, last_error, failed_position)"
    " SELECT 'context', MIN(position), MAX(updated_at), MAX(last_error), MIN(failed_position)"
    " FROM hub_projection_checkpoint WHERE name IN ('customers', 'threads', 'callbacks', 'presence')"
    " HAVING COUNT(*) > 0",
    "DELETE FROM hub_projection_checkpoint WHERE name IN ('customers', 'threads', 'callbacks', 'presence')",
]


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0006_projections_own_their_tables"),
        ("hub", "0003_projection_checkpoint"),
    ]

    operations = [migrations.RunSQL(SPLIT, JOIN)]

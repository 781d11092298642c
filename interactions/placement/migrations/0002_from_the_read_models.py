"""Fill placement's write model from the read models it used to read, as far as they had applied the log."""

from django.db import migrations

FILL = [
    "INSERT INTO placement_customer (id, created_at, merged_into)"
    " SELECT id, created_at, merged_into_id FROM interactions_customer",
    "INSERT INTO placement_identifier (uri, customer_id)"
    " SELECT uri, customer_id FROM interactions_customer_identifier",
    "INSERT INTO placement_thread (id, customer_id, topic, status, opened_at, last_activity_at)"
    " SELECT id, customer_id, topic, status, opened_at, last_activity_at FROM interactions_thread",
    "INSERT INTO placement_ref (ref, thread_id) SELECT ref, thread_id FROM interactions_conversation_ref",
    # The write model stands where the customers and threads projections stood (0 on a new database).
    "INSERT INTO hub_projection_checkpoint (name, position, updated_at, last_error)"
    " SELECT 'placement', COALESCE(MIN(position), 0), CURRENT_TIMESTAMP, ''"
    " FROM hub_projection_checkpoint WHERE name IN ('customers', 'threads')",
]
EMPTY = [
    "DELETE FROM hub_projection_checkpoint WHERE name = 'placement'",
    "DELETE FROM placement_ref",
    "DELETE FROM placement_thread",
    "DELETE FROM placement_identifier",
    "DELETE FROM placement_customer",
]


class Migration(migrations.Migration):
    dependencies = [
        ("placement", "0001_initial"),
        ("interactions", "0007_one_checkpoint_per_projection"),
    ]

    operations = [migrations.RunSQL(FILL, EMPTY)]

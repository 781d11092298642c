"""PostgreSQL: `hub_append`, the part of an append that must be serialised, in one round trip.

It takes the global append lock, numbers the rows (positions from the table's sequence, in the order
given), inserts them and queues the NOTIFY; the caller's COMMIT follows at once. Everything else an append
does (validation, de-duplication, stream versions, the inline projections) happens before, outside the lock:
see hub.store. A row that collides with a committed one, on (source, id) or on (stream, stream_version),
fails the INSERT with a unique violation, and the caller takes the slower path that locks first.
"""

from django.db import migrations

INSTALL = """
CREATE OR REPLACE FUNCTION hub_append(
    lock_key bigint,
    channel text,
    recorded timestamptz,
    sources text[],
    event_ids text[],
    types text[],
    subjects text[],
    streams text[],
    stream_versions bigint[],
    occurred timestamptz[],
    schema_versions smallint[],
    datas jsonb[],
    metadatas jsonb[]
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    positions bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- Under the lock nobody else takes positions, so these are the next ones and commit in order.
    positions := ARRAY(
        SELECT nextval(pg_get_serial_sequence('hub_event', 'position'))
        FROM generate_series(1, cardinality(sources)) ORDER BY 1
    );
    INSERT INTO hub_event (position, source, event_id, type, subject, stream, stream_version, occurred_at,
                           recorded_at, schema_version, data, metadata)
    SELECT positions[r.n], r.source, r.event_id, r.type, r.subject, r.stream, r.stream_version, r.occurred,
           recorded, r.schema_version, r.data, r.metadata
    FROM unnest(sources, event_ids, types, subjects, streams, stream_versions, occurred, schema_versions,
                datas, metadatas)
         WITH ORDINALITY AS r(source, event_id, type, subject, stream, stream_version, occurred,
                              schema_version, data, metadata, n);
    PERFORM pg_notify(channel, positions[cardinality(positions)]::text);
    RETURN positions;
END;
$$;
"""
REMOVE = (
    "DROP FUNCTION IF EXISTS hub_append(bigint, text, timestamptz, text[], text[], text[], text[], text[],"
    " bigint[], timestamptz[], smallint[], jsonb[], jsonb[]);"
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("hub", "0004_subscriptions")]

    operations = [migrations.RunPython(install, remove)]

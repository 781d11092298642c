"""PostgreSQL: `hub_append`, the part of an append that must be serialised, in one round trip.

It takes the global append lock, checks that every inline projection named is healthy (one may have failed
since the caller looked: then it refuses with SQLSTATE TL001 and the caller takes the locked path, which
catches it up), numbers the rows (positions from the table's sequence, in the order given), inserts them and
queues the NOTIFY; the caller's COMMIT follows at once. It answers the positions and the time the lock was
granted (for hub.holds). Everything else an append
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
    inline_projections text[],
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
,
    OUT positions bigint[],
    OUT locked_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    locked_at := clock_timestamp();
    -- Each statement of a volatile function sees what committed before it: a failure recorded by an
    -- append that held the lock before this one is seen here.
    IF (SELECT count(*) FROM hub_projection_checkpoint
        WHERE name = ANY(inline_projections) AND last_error = '') < cardinality(inline_projections) THEN
        RAISE EXCEPTION 'an inline projection is failed or new: append holding the lock first'
            USING ERRCODE = 'TL001';
    END IF;
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
END;
$$;
"""
REMOVE = (
    "DROP FUNCTION IF EXISTS hub_append(bigint, text, timestamptz, text[], text[], text[], text[], text[],"
    " text[], bigint[], timestamptz[], smallint[], jsonb[], jsonb[]);"
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

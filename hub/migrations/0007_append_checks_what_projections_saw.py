"""PostgreSQL: `hub_append` also refuses when the inline projections changed since the caller looked.

A lean append applies the inline projections before it takes the append lock (hub.store). If, meanwhile, a
projection failed, or a failed one was caught up by another writer that committed, what this append applied
was computed on rows that no longer are what it read: a read-modify-write of a row the catch-up had just
rewritten would undo the catch-up's change. Checking at the lock that they are healthy is not enough, since
a catch-up makes them healthy again.

`hub_inline_seen(names)` is the inline projections' state as one text: each name with its checkpoint's
position and whether it is failed. A healthy inline projection's position does not move with appends (only
a failure, a catch-up or a rebuild moves it, and a failure followed by a catch-up always leaves it further
on), so two equal readings mean nothing of the kind happened in between. The caller passes the reading it
made before reading any projection's rows (hub.store.inline_seen); `hub_append` compares it with
the reading under the lock and refuses with TL001 if they differ, the reading in DETAIL for the caller to
keep. Reading it costs no round trip: the caller keeps the last reading and only a refusal renews it.
"""

from importlib import import_module

from django.db import migrations

previous = import_module("hub.migrations.0005_append_function")

SEEN = """
CREATE OR REPLACE FUNCTION hub_inline_seen(inline_projections text[]) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(name || '@' || position || CASE WHEN last_error = '' THEN '' ELSE '!' END,
                               ',' ORDER BY name), '')
    FROM hub_projection_checkpoint WHERE name = ANY(inline_projections)
$$;
"""

INSTALL = """
CREATE OR REPLACE FUNCTION hub_append(
    lock_key bigint,
    channel text,
    recorded timestamptz,
    inline_projections text[],
    inline_seen text,
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
DECLARE
    healthy bigint;
    seen_now text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    locked_at := clock_timestamp();
    -- Each statement of a volatile function sees what committed before it: a failure recorded, or a
    -- catch-up made, by an append that held the lock before this one is seen here.
    SELECT count(*) FILTER (WHERE last_error = '') INTO healthy
    FROM hub_projection_checkpoint WHERE name = ANY(inline_projections);
    IF healthy < cardinality(inline_projections) THEN
        RAISE EXCEPTION 'an inline projection is failed or new: append holding the lock first'
            USING ERRCODE = 'TL001', DETAIL = hub_inline_seen(inline_projections);
    END IF;
    seen_now := hub_inline_seen(inline_projections);
    IF seen_now IS DISTINCT FROM inline_seen THEN
        RAISE EXCEPTION 'the inline projections changed since this append applied them: append holding the lock first'
            USING ERRCODE = 'TL001', DETAIL = seen_now;
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
    "DROP FUNCTION IF EXISTS hub_append(bigint, text, timestamptz, text[], text, text[], text[], text[], text[],"
    " text[], bigint[], timestamptz[], smallint[], jsonb[], jsonb[]);"
    " DROP FUNCTION IF EXISTS hub_inline_seen(text[]);"
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(previous.REMOVE, params=None)
        schema_editor.execute(SEEN, params=None)
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)
        schema_editor.execute(previous.INSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("hub", "0006_projection_versions")]

    operations = [migrations.RunPython(install, remove)]

"""Make the log append-only in the database itself: UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused."""

from django.db import migrations

PG_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION hub_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- TRUNCATE is allowed only when a session says so on purpose (the test suite's flush between
        -- transactional tests); nothing in the application sets it.
        IF TG_OP = 'TRUNCATE' AND current_setting('threadline.allow_truncate', true) = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'hub_event is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END;
    $$;
    """,
    """
    CREATE TRIGGER hub_event_no_update_delete BEFORE UPDATE OR DELETE ON hub_event
        FOR EACH ROW EXECUTE FUNCTION hub_event_refuse_change();
    """,
    """
    CREATE TRIGGER hub_event_no_truncate BEFORE TRUNCATE ON hub_event
        FOR EACH STATEMENT EXECUTE FUNCTION hub_event_refuse_change();
    """,
]
PG_REMOVE = [
    "DROP TRIGGER IF EXISTS hub_event_no_truncate ON hub_event;",
    "DROP TRIGGER IF EXISTS hub_event_no_update_delete ON hub_event;",
    "DROP FUNCTION IF EXISTS hub_event_refuse_change();",
]
SQLITE_INSTALL = [
    """
    CREATE TRIGGER hub_event_no_update BEFORE UPDATE ON hub_event
    BEGIN SELECT RAISE(ABORT, 'hub_event is append-only: UPDATE refused'); END;
    """,
    """
    CREATE TRIGGER hub_event_no_delete BEFORE DELETE ON hub_event
    BEGIN SELECT RAISE(ABORT, 'hub_event is append-only: DELETE refused'); END;
    """,
]
SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS hub_event_no_update;", "DROP TRIGGER IF EXISTS hub_event_no_delete;"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor)
        if statements is None:
            raise RuntimeError(
                f"no append-only triggers for {schema_editor.connection.vendor}; use PostgreSQL or SQLite"
            )
        for statement in statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("hub", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_INSTALL, "sqlite": SQLITE_INSTALL}),
            _run({"postgresql": PG_REMOVE, "sqlite": SQLITE_REMOVE}),
        )
    ]

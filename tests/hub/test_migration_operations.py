"""The read models keyed by strings looked up whole carry no LIKE index beside their primary key on
PostgreSQL: Django's `_like` index cost every insert and rebuild, and no query reads it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from hub.migration_operations import WithoutPatternIndex
from tests.conftest import requires_postgresql

pytestmark = [pytest.mark.django_db, requires_postgresql]

KEYED_BY_STRINGS = {
    "placement_identifier": "uri",
    "placement_ref": "ref",
    "interactions_customer_identifier": "uri",
    "interactions_conversation_ref": "ref",
    "interactions_agent_presence": "agent_id",
    "reachability_fact": "address",
}


def indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@pytest.mark.parametrize("table, column", KEYED_BY_STRINGS.items())
def test_a_read_model_keyed_by_a_string_has_its_primary_key_index_and_no_like_index(table, column):
    found = indexes(table)
    assert not [name for name, definition in found.items() if "pattern_ops" in definition], found
    assert any(name.endswith("_pkey") and f"({column})" in definition for name, definition in found.items())


def test_the_operation_goes_back_and_forth():
    state = MigrationLoader(connection).project_state()
    operation = WithoutPatternIndex("ReachFact", "address")
    with connection.schema_editor() as editor:
        operation.database_backwards("reachability", editor, state, state)
    assert [d for d in indexes("reachability_fact").values() if "varchar_pattern_ops" in d]
    with connection.schema_editor() as editor:
        operation.database_forwards("reachability", editor, state, state)
    assert not [d for d in indexes("reachability_fact").values() if "varchar_pattern_ops" in d]

"""Migration operations for the tables projections write, where Django's defaults cost every write.

`WithoutPatternIndex`: on PostgreSQL, Django gives every indexed `CharField` (a primary key too) a second
index, `<table>_<column>_<hash>_like` with `varchar_pattern_ops`, for `LIKE 'prefix%'` (`startswith`)
lookups. A read model keyed by a string that is only ever looked up whole (an identifier's URI, a
conversation reference) pays for that index on every row it inserts or rebuilds, and no query uses it. This
drops it, by the name Django gave it; backwards, it creates it again. Other databases have no such index.
"""

from __future__ import annotations

from django.db.migrations.operations.base import Operation


class WithoutPatternIndex(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, field_name: str) -> None:
        self.model_name = model_name
        self.field_name = field_name

    def deconstruct(self):
        return self.__class__.__qualname__, [self.model_name, self.field_name], {}

    def state_forwards(self, app_label, state) -> None:
        pass  # the model does not change: only an index Django made beside it

    def _target(self, app_label, schema_editor, state):
        model = state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.field_name)
        name = schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="_like")
        return model, field, name

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model, _, name = self._target(app_label, schema_editor, to_state)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model, field, _ = self._target(app_label, schema_editor, to_state)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(schema_editor._create_like_index_sql(model, field))

    def describe(self) -> str:
        return f"Drop the LIKE index of {self.model_name}.{self.field_name} (PostgreSQL)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_{self.field_name}_without_like_index"

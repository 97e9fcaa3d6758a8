"""Append-only history tables (audit log, case events): one mechanism in two layers.

The ORM refuses updates and deletes (`AppendOnly`); the database refuses them too (`trigger_sql`,
used by each table's migration), so neither a raw SQL session nor an ORM bug can rewrite history.
"""

from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError(f"{self.model.history_name}只能追加，不能修改")

    def delete(self):
        raise PermissionError(f"{self.model.history_name}只能追加，不能删除")


class AppendOnly(models.Model):
    history_name = "记录"  # what the refusal calls the rows, e.g. 审计日志

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError(f"{self.history_name}只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{self.history_name}只能追加，不能删除")


def trigger_sql(vendor, table, history_name, purge_switch=None):
    """(forward, reverse) statements rejecting UPDATE and DELETE on `table`. On SQLite an optional
    `purge_switch` table lets DELETE through while it holds a row (the test runner's flush between
    live-server tests; PostgreSQL flushes with TRUNCATE, which row triggers do not see)."""
    if vendor == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{history_name}只能追加，不能修改或删除'; END; $$ LANGUAGE plpgsql;",
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table};",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_append_only();",
        ], [f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}; DROP FUNCTION IF EXISTS {table}_append_only();"]
    forward, reverse = [], [f"DROP TRIGGER IF EXISTS {table}_no_update;", f"DROP TRIGGER IF EXISTS {table}_no_delete;"]
    when = ""
    if purge_switch:
        forward.append(f"CREATE TABLE IF NOT EXISTS {purge_switch} (id INTEGER PRIMARY KEY)")
        when = f"WHEN NOT EXISTS (SELECT 1 FROM {purge_switch}) "
        reverse.append(f"DROP TABLE IF EXISTS {purge_switch};")
    forward += [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{history_name}只能追加，不能修改'); END;",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} {when}BEGIN SELECT RAISE(ABORT, '{history_name}只能追加，不能删除'); END;",
    ]
    return forward, reverse


def trigger_operation(table, history_name, purge_switch=None):
    """A migration operation installing (and on reverse removing) the triggers of `table`."""
    from django.db import migrations

    def run(schema_editor, index):
        for sql in trigger_sql(schema_editor.connection.vendor, table, history_name, purge_switch)[index]:
            schema_editor.execute(sql)

    return migrations.RunPython(lambda apps, se: run(se, 0), lambda apps, se: run(se, 1))

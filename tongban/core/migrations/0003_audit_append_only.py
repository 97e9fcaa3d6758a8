"""Audit entries are append-only in the database itself: UPDATE and DELETE are rejected by triggers,
so neither a raw SQL session nor a bug in the ORM layer can rewrite history."""

from django.db import migrations

PG = """
CREATE OR REPLACE FUNCTION core_auditentry_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '审计日志只能追加，不能修改或删除';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS core_auditentry_no_change ON core_auditentry;
CREATE TRIGGER core_auditentry_no_change BEFORE UPDATE OR DELETE ON core_auditentry
  FOR EACH ROW EXECUTE FUNCTION core_auditentry_append_only();
"""
PG_REVERSE = "DROP TRIGGER IF EXISTS core_auditentry_no_change ON core_auditentry; DROP FUNCTION IF EXISTS core_auditentry_append_only();"

SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS core_auditentry_no_update BEFORE UPDATE ON core_auditentry BEGIN SELECT RAISE(ABORT, '审计日志只能追加，不能修改'); END;",
    "CREATE TRIGGER IF NOT EXISTS core_auditentry_no_delete BEFORE DELETE ON core_auditentry BEGIN SELECT RAISE(ABORT, '审计日志只能追加，不能删除'); END;",
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS core_auditentry_no_update;", "DROP TRIGGER IF EXISTS core_auditentry_no_delete;"]


def forwards(apps, schema_editor):
    statements = [PG] if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    statements = [PG_REVERSE] if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_idempotency")]
    operations = [migrations.RunPython(forwards, backwards)]

"""Case events are append-only in the database itself (UPDATE and DELETE rejected by triggers).

On SQLite the DELETE trigger stands aside only while the table `cases_history_purge` holds a row:
the test runner sets it just before flushing between live-server tests (PostgreSQL's flush uses
TRUNCATE, which row triggers do not see). Whoever can write that table could drop the trigger too."""

from django.db import migrations

PG = """
CREATE OR REPLACE FUNCTION cases_caseevent_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '办件记录只能追加，不能修改或删除';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS cases_caseevent_no_change ON cases_caseevent;
CREATE TRIGGER cases_caseevent_no_change BEFORE UPDATE OR DELETE ON cases_caseevent
  FOR EACH ROW EXECUTE FUNCTION cases_caseevent_append_only();
"""
PG_REVERSE = "DROP TRIGGER IF EXISTS cases_caseevent_no_change ON cases_caseevent; DROP FUNCTION IF EXISTS cases_caseevent_append_only();"

SQLITE = [
    "CREATE TABLE IF NOT EXISTS cases_history_purge (id INTEGER PRIMARY KEY)",
    "CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_update BEFORE UPDATE ON cases_caseevent BEGIN SELECT RAISE(ABORT, '办件记录只能追加，不能修改'); END;",
    "CREATE TRIGGER IF NOT EXISTS cases_caseevent_no_delete BEFORE DELETE ON cases_caseevent "
    "WHEN NOT EXISTS (SELECT 1 FROM cases_history_purge) "
    "BEGIN SELECT RAISE(ABORT, '办件记录只能追加，不能删除'); END;",
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS cases_caseevent_no_update;", "DROP TRIGGER IF EXISTS cases_caseevent_no_delete;", "DROP TABLE IF EXISTS cases_history_purge;"]


def forwards(apps, schema_editor):
    for sql in [PG] if schema_editor.connection.vendor == "postgresql" else SQLITE:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for sql in [PG_REVERSE] if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]

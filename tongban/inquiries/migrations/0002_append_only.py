"""Inquiry steps and replies are append-only in the database itself (UPDATE and DELETE rejected by
triggers); on SQLite the shared `cases_history_purge` switch lets the test runner flush between
live-server tests, as for case events (reversing leaves that shared table alone)."""

from django.db import migrations

from tongban.core.append_only import trigger_sql

TABLES = [("inquiries_inquirystep", "咨询投诉建议记录"), ("inquiries_inquiryreply", "答复记录")]


def _run(schema_editor, index):
    for table, name in TABLES:
        for sql in trigger_sql(schema_editor.connection.vendor, table, name, "cases_history_purge")[index]:
            if not sql.startswith("DROP TABLE"):
                schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("inquiries", "0001_initial"), ("cases", "0002_case_event_append_only")]
    operations = [migrations.RunPython(lambda apps, se: _run(se, 0), lambda apps, se: _run(se, 1))]

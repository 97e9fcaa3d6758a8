"""Rectification steps are append-only in the database itself (UPDATE and DELETE rejected by triggers);
on SQLite the DELETE trigger stands aside only while `cases_history_purge` holds a row (test flushes)."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0001_initial")]
    operations = [trigger_operation("evaluation_rectificationstep", "整改记录", purge_switch="cases_history_purge")]

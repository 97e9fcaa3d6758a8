"""Audit entries are append-only in the database itself: UPDATE and DELETE are rejected by triggers,
so neither a raw SQL session nor a bug in the ORM layer can rewrite history."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("core", "0002_idempotency")]
    operations = [trigger_operation("core_auditentry", "审计日志")]

"""Ticket logs are append-only in the database itself, like case events (same purge switch)."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("queueing", "0001_initial"), ("cases", "0002_case_event_append_only")]
    operations = [trigger_operation("queueing_ticketlog", "叫号记录", purge_switch="cases_history_purge")]

"""Bundle events are append-only in the database itself, like case events (same purge switch)."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("bundles", "0001_initial")]
    operations = [trigger_operation("bundles_bundleevent", "一件事办件记录", purge_switch="cases_history_purge")]

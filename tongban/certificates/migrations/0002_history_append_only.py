"""Certificate events and print records are append-only in the database itself (same purge switch as
case events, for the test runner's flush)."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_initial")]
    operations = [
        trigger_operation("certificates_certificateevent", "证照记录", purge_switch="cases_history_purge"),
        trigger_operation("certificates_printrecord", "证照打印记录", purge_switch="cases_history_purge"),
    ]

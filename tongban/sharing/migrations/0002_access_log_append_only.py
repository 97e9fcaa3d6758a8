"""The access log is append-only in the database itself: the log role cannot update or delete rows."""

from django.db import migrations

from tongban.core.append_only import trigger_operation


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_initial")]
    operations = [trigger_operation("sharing_accesslog", "用证日志", purge_switch="cases_history_purge")]

from django.apps import AppConfig


class QueueingConfig(AppConfig):
    name = "tongban.queueing"
    verbose_name = "主题叫号"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes  # noqa: F401

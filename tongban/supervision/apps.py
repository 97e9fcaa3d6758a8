from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    name = "tongban.supervision"
    label = "supervision"
    verbose_name = "政务服务驾驶舱"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes, signals  # noqa: F401 (scopes registered; incremental summary updates connected)

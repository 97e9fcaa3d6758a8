from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "tongban.sharing"
    verbose_name = "数据共享与免提交"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes  # noqa: F401

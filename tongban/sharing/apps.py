from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "tongban.sharing"
    verbose_name = "数据共享与免提交"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import exchange_evidence, scopes  # noqa: F401

        exchange_evidence.register()  # the exchange's message handlers for cross-node evidence requests

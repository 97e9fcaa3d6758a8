from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tongban.core"
    label = "core"
    verbose_name = "基础"

    def ready(self):
        from . import signals  # noqa: F401

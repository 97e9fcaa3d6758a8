from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "tongban.portal"
    label = "portal"
    verbose_name = "跨域通办专区"

    def ready(self):
        from . import signals  # noqa: F401  (home page figures follow catalogue changes)

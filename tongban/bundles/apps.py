from django.apps import AppConfig


class BundlesConfig(AppConfig):
    name = "tongban.bundles"
    verbose_name = "高效办成一件事"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes, signals  # noqa: F401

from django.apps import AppConfig


class CooperationConfig(AppConfig):
    name = "tongban.cooperation"
    verbose_name = "通办合作"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes  # noqa: F401

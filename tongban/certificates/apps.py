from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "tongban.certificates"
    verbose_name = "电子证照"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import hooks, scopes  # noqa: F401

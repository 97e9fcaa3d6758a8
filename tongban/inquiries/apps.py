from django.apps import AppConfig


class InquiriesConfig(AppConfig):
    name = "tongban.inquiries"
    verbose_name = "咨询投诉建议"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes  # noqa: F401

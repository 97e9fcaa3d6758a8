from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "tongban.evaluation"
    verbose_name = "好差评"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import scopes  # noqa: F401

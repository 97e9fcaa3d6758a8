from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "tongban.cases"
    label = "cases"
    verbose_name = "办件"

    def ready(self):
        from . import replication, scopes  # noqa: F401  (registers authorisation scopes)

        replication.register()  # the exchange's message handlers for cross-region cases

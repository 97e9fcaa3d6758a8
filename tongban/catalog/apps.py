from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "tongban.catalog"
    label = "catalog"
    verbose_name = "事项目录"

    def ready(self):
        from . import scopes  # noqa: F401

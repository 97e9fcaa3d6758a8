from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "tongban.directory"
    label = "directory"
    verbose_name = "区划与机构"

    def ready(self):
        from . import scopes  # noqa: F401  (registers authorisation scopes)

from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "tongban.exchange"
    verbose_name = "节点与交换"
    default_auto_field = "django.db.models.BigAutoField"

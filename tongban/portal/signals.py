from django.db.models.signals import post_delete, post_save

from tongban.catalog.models import Implementation, Item, ItemVersion

from .services import invalidate_home_figures

for _model in (Implementation, Item, ItemVersion):
    post_save.connect(invalidate_home_figures, sender=_model, dispatch_uid=f"portal-home-{_model.__name__}-save")
    post_delete.connect(invalidate_home_figures, sender=_model, dispatch_uid=f"portal-home-{_model.__name__}-delete")

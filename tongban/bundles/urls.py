from django.urls import path

from tongban.bundles import catalog_views, portal_views

app_name = "bundles"

urlpatterns = [
    path("", catalog_views.bundle_list, name="list"),
    path("<str:code>/", catalog_views.bundle_guide, name="guide"),
    path("<str:code>/apply/", portal_views.apply, name="apply"),
]

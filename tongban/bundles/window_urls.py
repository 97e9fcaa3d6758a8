"""窗口综合受理 of a new 一件事, at /workbench/bundles/window/ (the lead department's window clerk)."""

from django.urls import path

from . import window_views

app_name = "bundle_window"

urlpatterns = [
    path("", window_views.choose, name="choose"),
    path("<str:code>/", window_views.apply, name="apply"),
]

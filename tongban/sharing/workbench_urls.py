from django.urls import path

from . import workbench_views

app_name = "sharing_workbench"

urlpatterns = [
    path("", workbench_views.home, name="home"),
    path("demands/", workbench_views.declare, name="declare"),
    path("demands/<int:demand_id>/answer/", workbench_views.answer, name="answer"),
    path("grants/<int:grant_id>/revoke/", workbench_views.revoke, name="revoke"),
    path("unmet/", workbench_views.unmet, name="unmet"),
    path("log/", workbench_views.log, name="log"),
    path("certificates/<int:pk>/", workbench_views.certificate, name="certificate"),
]

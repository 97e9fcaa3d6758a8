"""The coordinator's workbench for 一件事, at /workbench/bundles/."""

from django.urls import path

from . import workbench_views

app_name = "bundle_workbench"

urlpatterns = [
    path("", workbench_views.bundle_list, name="list"),
    path("<int:bundle_case_id>/", workbench_views.detail, name="detail"),
    path("<int:bundle_case_id>/intake/", workbench_views.intake, name="intake"),
    path("<int:bundle_case_id>/deliver/", workbench_views.deliver, name="deliver"),
    path("<int:bundle_case_id>/appointments/", workbench_views.schedule, name="schedule"),
    path("<int:bundle_case_id>/appointments/<int:appointment_id>/", workbench_views.record, name="record"),
    path("<int:bundle_case_id>/market/", workbench_views.market, name="market"),
    path("<int:bundle_case_id>/documents/<int:document_id>/", workbench_views.document, name="document"),
]

from django.urls import path, re_path

from tongban.supervision import map_views, report_views, views

app_name = "supervision"

urlpatterns = [
    path("", views.cockpit, name="cockpit"),
    path("export.xlsx", views.export, name="export"),
    path("map/", map_views.flow_map, name="map"),
    path("reports/", report_views.index, name="reports"),
    path("reports/quarterly/", report_views.quarterly, name="quarterly"),
    re_path(r"^reports/quarterly\.(?P<fmt>xlsx|pdf)$", report_views.quarterly_download, name="quarterly_download"),
    path("reports/bulletin/", report_views.bulletin, name="bulletin"),
    re_path(r"^reports/bulletin\.(?P<fmt>xlsx|pdf)$", report_views.bulletin_download, name="bulletin_download"),
]

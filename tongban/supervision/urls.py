from django.urls import path

from tongban.supervision import map_views, views

app_name = "supervision"

urlpatterns = [
    path("", views.cockpit, name="cockpit"),
    path("export.xlsx", views.export, name="export"),
    path("map/", map_views.flow_map, name="map"),
]

from django.urls import path, re_path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("search/regions/", views.region_picker, name="region-picker"),
    path("scope/<str:scope>/", views.by_scope, name="scope"),
    path("mode/<str:mode>/", views.by_mode, name="mode"),
    path("guide/materials/<int:pk>/<str:kind>/", views.material_file, name="material-file"),
    path("guide/<str:code>/result-sample/", views.result_sample, name="result-sample"),
    path("guide/<str:code>/", views.guide, name="guide"),
    path("lists/", views.lists, name="lists"),
    path("lists/<int:pk>/", views.list_detail, name="list"),
    re_path(r"^prefs/script/(?P<script>hans|hant)/$", views.set_script, name="set-script"),
    re_path(r"^prefs/elder/(?P<state>on|off)/$", views.set_elder, name="set-elder"),
]

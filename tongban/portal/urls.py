from django.urls import path, re_path

from . import case_views, views

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
    # 全程网办, 我的办件, 办件查询 (case_views)
    path("apply/<str:implementation_code>/", case_views.apply, name="apply"),
    path("my/", case_views.my, name="my"),
    path("my/cases/<int:case_id>/", case_views.my_case, name="my-case"),
    path("pay/sandbox/<str:reference>/", case_views.pay_sandbox, name="pay-sandbox"),
    path("track/", case_views.track, name="track"),
    re_path(r"^prefs/script/(?P<script>hans|hant)/$", views.set_script, name="set-script"),
    re_path(r"^prefs/elder/(?P<state>on|off)/$", views.set_elder, name="set-elder"),
]

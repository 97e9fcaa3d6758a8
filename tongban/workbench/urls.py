from django.urls import path

from . import proxy_views, views

app_name = "workbench"
urlpatterns = [
    path("", views.home, name="home"),
    path("queue/", views.queue, name="queue"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/act/<str:action>/", views.act, name="act"),
    path("proxy/", proxy_views.receive, name="proxy"),
    path("cases/<int:case_id>/intake-check/", proxy_views.intake_check, name="proxy-check"),
    path("cases/<int:case_id>/scan/", proxy_views.scan, name="proxy-scan"),
    path("messages/", views.message_list, name="messages"),
    path("messages/read/", views.messages_read, name="messages-read"),
]

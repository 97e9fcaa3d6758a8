from django.urls import path

from . import views

app_name = "workbench"
urlpatterns = [
    path("", views.home, name="home"),
    path("queue/", views.queue, name="queue"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/act/<str:action>/", views.act, name="act"),
    path("messages/", views.message_list, name="messages"),
    path("messages/read/", views.messages_read, name="messages-read"),
]

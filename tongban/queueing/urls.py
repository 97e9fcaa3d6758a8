from django.urls import path

from . import views

app_name = "queueing"

urlpatterns = [
    path("window/", views.window_page, name="window"),
    path("window/call/", views.call, name="call"),
    path("tickets/<int:ticket_id>/<str:action>/", views.act, name="act"),
    path("<int:hall_id>/take/", views.take, name="take"),
    path("<int:hall_id>/ticket/<str:token>/", views.ticket_page, name="ticket"),
    path("<int:hall_id>/screen/", views.screen, name="screen"),
    path("<int:hall_id>/screen/board/", views.board, name="board"),
]

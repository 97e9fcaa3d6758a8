from django.urls import path

from . import views

app_name = "exchange"
urlpatterns = [
    path("inbox/", views.inbox_view, name="inbox"),
    path("ops/", views.ops, name="ops"),
    path("ops/resend/", views.ops_resend, name="ops-resend"),
]

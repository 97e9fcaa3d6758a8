from django.urls import path

from . import views

app_name = "inquiries"
urlpatterns = [
    path("new/", views.new, name="new"),
    path("query/", views.query, name="query"),
]

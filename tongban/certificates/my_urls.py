from django.urls import path

from . import my_views

app_name = "my_certificates"

urlpatterns = [
    path("", my_views.wallet, name="list"),
    path("<int:pk>/", my_views.detail, name="detail"),
    path("<int:pk>/pdf/", my_views.pdf, name="pdf"),
    path("<int:pk>/present/", my_views.present, name="present"),
    path("presentations/<str:token>/", my_views.presentation, name="presentation"),
]

from django.urls import path

from . import public_views

app_name = "verify"

urlpatterns = [
    path("", public_views.verify, name="verify"),
    path("p/<str:token>/", public_views.presentation, name="presentation"),
]

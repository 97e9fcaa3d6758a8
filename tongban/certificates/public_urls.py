from django.urls import path

from . import public_views

app_name = "certificates_public"

urlpatterns = [
    path("trust-list.json", public_views.trust_list, name="trust-list"),
]

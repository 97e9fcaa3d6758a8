from django.urls import path

from . import views

app_name = "cooperation"

urlpatterns = [
    path("", views.agreements, name="agreements"),
    path("partners/", views.partners, name="partners"),
]

"""Developer pages, mounted under /dev/. Each view answers 404 unless settings.DEBUG is on."""

from django.urls import path

from . import views

urlpatterns = [
    path("mailbox/", views.mailbox, name="dev-mailbox"),
]

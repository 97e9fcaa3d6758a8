from django.urls import path

from . import auth_views

urlpatterns = [
    path("login/", auth_views.staff_login, name="staff-login"),
    path("logout/", auth_views.staff_logout, name="staff-logout"),
]

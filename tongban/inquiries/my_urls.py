from django.urls import path

from . import views

app_name = "my_inquiries"
urlpatterns = [
    path("", views.my_list, name="list"),
    path("<int:inquiry_id>/", views.my_detail, name="detail"),
]

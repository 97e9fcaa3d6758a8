from django.urls import path

from . import views

app_name = "inquiries_workbench"
urlpatterns = [
    path("", views.staff_list, name="list"),
    path("<int:inquiry_id>/", views.staff_detail, name="detail"),
    path("<int:inquiry_id>/act/<str:action>/", views.staff_act, name="act"),
]

from django.urls import path

from . import views

app_name = "evaluation"

urlpatterns = [
    path("my/cases/<int:case_id>/evaluate/", views.rate_case, name="rate-case"),
    path("rate/", views.rate_entry, name="rate-entry"),
    path("rate/<str:token>/", views.rate, name="rate"),
    path("workbench/rating-invite/", views.invite, name="invite"),
    path("workbench/rectifications/", views.rectifications, name="rectifications"),
    path("workbench/rectifications/<int:rect_id>/", views.rectification, name="rectification"),
    path("workbench/evaluations/export/", views.export, name="export"),
]

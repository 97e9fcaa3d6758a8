"""我的一件事 (the applicant's own bundle cases), at /my/bundles/."""

from django.urls import path

from . import portal_views

app_name = "my_bundles"

urlpatterns = [
    path("", portal_views.my_list, name="list"),
    path("<int:bundle_case_id>/", portal_views.my_detail, name="detail"),
    path("<int:bundle_case_id>/documents/<int:document_id>/", portal_views.my_document, name="document"),
]

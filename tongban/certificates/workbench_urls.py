from django.urls import path

from . import workbench_views as views

app_name = "certificates_workbench"
urlpatterns = [
    path("", views.certificate_list, name="list"),
    path("<int:pk>/", views.certificate_detail, name="detail"),
    path("<int:pk>/pdf/", views.certificate_pdf, name="pdf"),
    path("<int:pk>/change/", views.certificate_change, name="change"),
    path("<int:pk>/revoke/", views.certificate_revoke, name="revoke"),
    path("print/", views.print_lookup, name="print"),
    path("print/do/", views.print_do, name="print-do"),
    path("prints/", views.print_records, name="prints"),
]

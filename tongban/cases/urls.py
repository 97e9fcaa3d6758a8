from django.urls import path

from . import downloads

app_name = "cases"
urlpatterns = [
    path("<int:case_id>/materials/<int:material_id>/", downloads.material_file, name="material-file"),
    path("<int:case_id>/documents/<int:document_id>/", downloads.document_file, name="document-file"),
]

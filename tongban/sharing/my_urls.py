from django.urls import path

from . import portal_views

app_name = "sharing_my"

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("consent/<int:case_id>/<int:material_id>/", portal_views.consent_page, name="consent"),
    path("remove/<int:case_id>/<int:case_material_id>/", portal_views.remove, name="remove"),
    path("consents/<int:consent_id>/withdraw/", portal_views.withdraw, name="withdraw"),
    path("proofs/", portal_views.proofs, name="proofs"),
]

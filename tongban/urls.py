from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from tongban.api import api
from tongban.directory import auth_views

admin.site.site_header = "通办平台管理"
admin.site.site_title = "通办平台管理"
admin.site.index_title = "管理首页"
admin.site.login = auth_views.admin_login_redirect

urlpatterns = [
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("staff/", include("tongban.directory.urls")),
    path("applicant/", include("tongban.applicants.urls")),
    path("dev/", include("tongban.applicants.dev_urls")),
    path("cases/", include("tongban.cases.urls")),
    path("workbench/bundles/window/", include("tongban.bundles.window_urls")),
    path("workbench/bundles/", include("tongban.bundles.workbench_urls")),
    path("workbench/", include("tongban.workbench.urls")),
    path("exchange/", include("tongban.exchange.urls")),
    path("cooperation/", include("tongban.cooperation.urls")),
    path("bundles/", include("tongban.bundles.urls")),
    path("my/bundles/", include("tongban.bundles.my_urls")),
    path("queue/", include("tongban.queueing.urls")),
    path("inquiries/", include("tongban.inquiries.urls")),
    path("my/inquiries/", include("tongban.inquiries.my_urls")),
    path("workbench/inquiries/", include("tongban.inquiries.workbench_urls")),
    path("cockpit/", include("tongban.supervision.urls")),
    path("verify/", include("tongban.certificates.verify_urls")),
    path("certificates/", include("tongban.certificates.public_urls")),
    path("my/certificates/", include("tongban.certificates.my_urls")),
    path("workbench/certificates/", include("tongban.certificates.workbench_urls")),
    path("my/evidence/", include("tongban.sharing.my_urls")),
    path("workbench/sharing/", include("tongban.sharing.workbench_urls")),
    path("", include("tongban.evaluation.urls")),
    path("", include("tongban.portal.urls")),
]

if settings.DEBUG:
    from django.views.static import serve

    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]

"""好差评 pages: the applicant's rating on their case page, the public rating device page of a window
(一次一评), and the workbench pages (邀请评价, 差评整改, export). Thin: every change goes through
services; refusals are shown in Chinese with their own status code."""

import io

import segno
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.core import authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import DomainError
from tongban.portal.case_views import applicant_required
from tongban.workbench.views import nav_context, staff_required

from . import exporting, services
from .models import TAGS, Channel, Level, Rectification

LEVELS = [(v, label) for v, label in Level.choices]  # 非常满意 first


def _status(exc):
    return getattr(exc, "status", None) or 403


# --- applicant (一事一评, 追加评价) ----------------------------------------------------------------

@never_cache
@require_POST
@applicant_required
def rate_case(request, case_id):
    post = request.POST
    try:
        if post.get("action") == "add":
            parent = post.get("evaluation_id", "")
            if not parent.isdigit() or len(parent) > 12:
                raise DomainError("未找到要追加的评价", status=404)
            services.add_rating(request.user, int(parent), post.get("level"), post.getlist("tags"), post.get("comment"))
            notice = "追加评价已提交，感谢您的反馈。"
        else:
            services.rate_case(request.user, case_id, post.get("level"), post.getlist("tags"), post.get("comment"),
                               anonymous=post.get("anonymous") == "1")
            notice = "评价已提交，感谢您的反馈。"
    except (DomainError, PermissionDenied) as exc:
        return render(request, "evaluation/refused.html", {"message": exc.message, "back": reverse("portal:my-case", args=[case_id])},
                      status=_status(exc))
    messages.success(request, notice)
    return redirect(reverse("portal:my-case", args=[case_id]) + "#h-evaluation")


# --- rating device (一次一评) ----------------------------------------------------------------------

@never_cache
@require_GET
def rate_entry(request):
    code = (request.GET.get("code") or "").strip()
    if code:
        if code.isdigit() and len(code) == 8:
            return redirect("evaluation:rate", token=code)
        return render(request, "evaluation/rate_entry.html", {"error": "请输入8位数字评价码", "code": code[:20]}, status=422)
    return render(request, "evaluation/rate_entry.html", {})


@never_cache
@require_http_methods(["GET", "POST"])
def rate(request, token):
    context = {"levels": LEVELS, "tags": TAGS[Channel.WINDOW], "posted": request.POST, "chosen": request.POST.getlist("tags")}
    try:
        found = services.find_token(token)
        services.check_token(found)
        context["token"] = found
        if request.method == "POST":
            services.rate_window(token, request.POST.get("level"), request.POST.getlist("tags"), request.POST.get("comment"))
            return render(request, "evaluation/rate_done.html", {})
    except DomainError as exc:
        if "token" not in context:
            return render(request, "evaluation/rate_entry.html", {"error": exc.message}, status=exc.status)
        context["error"] = exc.message
        return render(request, "evaluation/rate.html", context, status=exc.status)
    return render(request, "evaluation/rate.html", context)


# --- workbench ------------------------------------------------------------------------------------

def _wb(request, nav, **extra):
    return {"nav": nav, **nav_context(request), **extra}


@staff_required
@require_http_methods(["GET", "POST"])
def invite(request):
    context = _wb(request, "rating_invite")
    status = 200
    if request.method == "POST":
        try:
            token = services.issue_token(request.user, request.POST.get("case_no", "")[:40])
        except (DomainError, PermissionDenied) as exc:
            context["error"], status = exc.message, _status(exc)
        else:
            url = settings.TONGBAN_PUBLIC_URL.rstrip("/") + reverse("evaluation:rate", args=[token.token])
            buf = io.BytesIO()
            segno.make(url, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False, svgns=True)
            context.update(token=token, url=url, qr_svg=buf.getvalue().decode("utf-8"))
    return render(request, "evaluation/invite.html", context, status=status)


FILTERS = [("", "全部"), ("active", "待处理"), ("open", "待回访核实"), ("rectifying", "限期整改中"), ("appealed", "申诉复核中"), ("closed", "已办结")]


@staff_required
@require_GET
def rectifications(request):
    qs = services.follow_up_order(services.visible_rectifications(request.user).select_related("evaluation__case", "department"))
    show = request.GET.get("status", "active")
    if show == "active":
        qs = qs.filter(status__in=Rectification.ACTIVE)
    elif show == "closed":
        qs = qs.filter(status__in=(Rectification.DONE, Rectification.EXCLUDED))
    elif show in dict(Rectification.STATUS_CHOICES):
        qs = qs.filter(status=show)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "evaluation/rectifications.html", _wb(request, "rectifications", page=page, rows=page.object_list,
                                                                  filters=FILTERS, show=show,
                                                                  can_export=bool(authz.roles_of(request.user) & {"supervisor", "platform_admin"})))


ACTIONS = {"callback", "decide", "complete", "appeal", "review"}


@staff_required
@require_http_methods(["GET", "POST"])
def rectification(request, rect_id):
    try:
        rect = services.get_visible(request.user, rect_id)
    except Http404:
        return render(request, "evaluation/refused.html", _wb(request, "rectifications", message="未找到该差评整改记录，或您无权查看"), status=404)
    error, status = "", 200
    if request.method == "POST":
        action, post, user = request.POST.get("action", ""), request.POST, request.user
        try:
            if action == "callback":
                services.record_callback(user, rect.pk, post.get("reached") == "1", post.get("summary"))
            elif action == "decide":
                services.decide(user, rect.pk, post.get("outcome", ""), post.get("note"))
            elif action == "complete":
                services.complete(user, rect.pk, post.get("result"))
            elif action == "appeal":
                services.appeal(user, rect.pk, post.get("reason"))
            elif action == "review":
                if post.get("upheld") not in ("1", "0"):
                    raise DomainError("请选择复核结论：申诉成立或申诉不成立", status=422)
                services.review(user, rect.pk, post.get("upheld") == "1", post.get("opinion"))
            else:
                raise DomainError("未知的操作，请刷新页面后重试", status=400)
        except (DomainError, PermissionDenied) as exc:
            error, status = exc.message, _status(exc)
            rect = services.get_visible(request.user, rect_id)
        else:
            messages.success(request, "已保存。")
            return redirect("evaluation:rectification", rect_id=rect.pk)
    writable = authz.filter_queryset(Rectification.objects.filter(pk=rect.pk), request.user, authz.WRITE).exists()
    context = _wb(request, "rectifications", rect=rect, ev=rect.evaluation, steps=rect.steps.all(), error=error, posted=request.POST,
                  writable=writable, reviewer=services.can_review(request.user, rect), outcomes=Rectification.OUTCOME_CHOICES,
                  days=services.rectification_days())
    return render(request, "evaluation/rectification.html", context, status=status)


@staff_required
@require_GET
def export(request):
    if not authz.roles_of(request.user) & {"supervisor", "platform_admin"}:
        return render(request, "evaluation/refused.html", _wb(request, "rectifications", message="只有监督人员可以导出好差评数据"), status=403)
    fmt = request.GET.get("format", "csv")
    if fmt == "xlsx":
        data, ctype = exporting.to_xlsx(request.user), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        fmt, data, ctype = "csv", exporting.to_csv(request.user), "text/csv; charset=utf-8"
    response = HttpResponse(data, content_type=ctype)
    response["Content-Disposition"] = f'attachment; filename="evaluations.{fmt}"'
    return response

"""Applicant pages (跨域通办专区). Thin: parsing and queries live in services, guide layout in guide."""

from pathlib import Path

from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from tongban.catalog.choices import MODE_LABELS, MODES, SCOPE_LABELS, SCOPES
from tongban.core.i18n import ELDER_COOKIE, HANT, SCRIPT_COOKIE

from . import services
from .guide import build_sections

SCOPE_HELP = {
    "cross_province": "在全国范围内异地申请、异地办理，不再多地跑、折返跑",
    "province_wide": "在省内任一地申请办理，无需回到户籍地或业务属地",
    "city_wide": "在市内任一区县、乡镇（街道）便民服务中心就近办理",
    "regional": "在签订合作协议的地区之间通办，如毗邻地区、城市群",
}
MODE_HELP = {
    "online": "申请、受理、审查、决定、送达全程网上办理，办理地部门远程审批",
    "proxy": "在就近的跨域通办专窗提交材料，窗口核验身份和原件后转交业务属地部门办理",
    "joint": "申请人只到一地提交，多地部门内部协同、共享材料和档案，合力办结",
}
PREF_MAX_AGE = 365 * 24 * 3600


def not_found(request, message="您访问的页面不存在或已下线"):
    """A friendly Chinese 404 page also when DEBUG is on (Django shows its technical page then)."""
    return render(request, "404.html", {"message": message}, status=404)


def _tiles(counts):
    scopes = [{"key": k, "label": label, "help": SCOPE_HELP[k], "count": counts.get(f"scope_{k}", 0)} for k, label in SCOPES]
    modes = [{"key": k, "label": label, "help": MODE_HELP[k], "count": counts.get(f"mode_{k}", 0)} for k, label in MODES]
    return scopes, modes


@require_GET
def home(request):
    scopes, modes = _tiles(services.flag_counts())
    return render(
        request,
        "portal/home.html",
        {
            "scope_tiles": scopes,
            "mode_tiles": modes,
            "frequent": services.frequent_items(),
            "lists": services.tongban_lists(request.user, limit=6),
        },
    )


def _listing_page(request, *, heading, intro="", fixed_scope="", fixed_mode="", lists=None):
    listing = services.run_search(request.GET, request.user, fixed_scope=fixed_scope, fixed_mode=fixed_mode)
    return render(
        request,
        "portal/search.html",
        {
            "listing": listing,
            "heading": heading,
            "intro": intro,
            "fixed_scope": fixed_scope,
            "fixed_mode": fixed_mode,
            "pagination": services.pagination(listing, request.path),
            "scopes": SCOPES,
            "modes": MODES,
            "region_levels": services.region_levels(listing.region, request.user),
            "departments": services.departments_in(listing.region, request.user),
            "lists": lists,
        },
    )


@require_GET
def search(request):
    return _listing_page(request, heading="搜索事项")


@require_GET
def by_scope(request, scope):
    if scope not in SCOPE_LABELS:
        return not_found(request, "没有这个通办范围")
    lists = services.tongban_lists(request.user, scope=scope, limit=10)
    return _listing_page(request, heading=SCOPE_LABELS[scope], intro=SCOPE_HELP[scope], fixed_scope=scope, lists=lists)


@require_GET
def by_mode(request, mode):
    if mode not in MODE_LABELS:
        return not_found(request, "没有这个业务模式")
    return _listing_page(request, heading=MODE_LABELS[mode], intro=MODE_HELP[mode], fixed_mode=mode)


@require_GET
def region_picker(request):
    """The region and department selects, re-rendered by htmx when a level changes."""
    region = services.parse_region(request.GET.getlist("region"), request.user)
    department = services.parse_department(request.GET.get("department"), region, request.user) if region else None
    return render(
        request,
        "portal/_region_picker.html",
        {
            "region_levels": services.region_levels(region, request.user),
            "departments": services.departments_in(region, request.user),
            "selected_department": department.pk if department else None,
            "region": region,
        },
    )


@require_GET
def guide(request, code):
    found = services.guide_for(code, request.user)
    if found is None:
        return not_found(request, "未找到该事项的办事指南，可能编码有误或事项已下线")
    sections = build_sections(found)
    return render(
        request, "portal/guide.html", {"guide": found, "impl": found.implementation, "version": found.version, "sections": sections}
    )


def _file_response(field, display_name):
    if not field:
        return None
    try:
        handle = field.open("rb")
    except (FileNotFoundError, OSError):
        return None
    return FileResponse(handle, as_attachment=True, filename=f"{display_name}{Path(field.name).suffix[:10]}")


@require_GET
def material_file(request, pk, kind):
    material = services.public_material(pk, request.user) if kind in ("blank", "sample") else None
    if material is None:
        return not_found(request, "未找到该材料模板")
    label = "空白表格" if kind == "blank" else "示例样表"
    response = _file_response(material.blank_form if kind == "blank" else material.sample, f"{material.name}（{label}）")
    return response or not_found(request, f"该材料暂无{label}")


@require_GET
def result_sample(request, code):
    found = services.guide_for(code, request.user)
    response = (
        _file_response(found.version.result_sample, f"{found.version.result_name or found.version.name}（审批结果样本）") if found else None
    )
    return response or not_found(request, "未找到审批结果样本")


@require_GET
def lists(request):
    scope = services.clean_text(request.GET.get("scope"), 20)
    scope = scope if scope in SCOPE_LABELS else ""
    return render(
        request, "portal/lists.html", {"lists": services.tongban_lists(request.user, scope=scope or None), "scope": scope, "scopes": SCOPES}
    )


@require_GET
def list_detail(request, pk):
    found = services.tongban_list(pk, request.user) if 0 < pk < 2**63 else None
    if found is None:
        return not_found(request, "未找到该通办清单")
    return render(request, "portal/list_detail.html", {"tongban_list": found, "entries": services.list_entries(found, request.user)})


def _back(request):
    target = services.clean_text(request.GET.get("next"), 2000)
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@require_GET
def set_script(request, script):
    response = redirect(_back(request))
    if script == HANT:
        response.set_cookie(SCRIPT_COOKIE, HANT, max_age=PREF_MAX_AGE, samesite="Lax", httponly=True)
    else:
        response.delete_cookie(SCRIPT_COOKIE, samesite="Lax")
    return response


@require_GET
def set_elder(request, state):
    response = redirect(_back(request))
    if state == "on":
        response.set_cookie(ELDER_COOKIE, "1", max_age=PREF_MAX_AGE, samesite="Lax", httponly=True)
    else:
        response.delete_cookie(ELDER_COOKIE, samesite="Lax")
    return response

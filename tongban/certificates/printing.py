"""异地打印: a clerk at any service window prints a certificate for its holder, who is present.

The clerk cannot read certificates of other places, so the holder's presence is the authority: the
identifier and the holder's ID number (or credit code) must both match, otherwise the answer is "not
found" whatever the reason, and the failed attempt is logged in the access log the holder can read.
Only a valid certificate is printed; every print appends a PrintRecord (who, window, department,
region, place, copies, case, reason), a certificate event and an access-log row, so the issuing
department sees where its certificates were printed.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tongban.core import audit, authz, ratelimit
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.directory.models import Membership, Window
from tongban.sharing import access_log
from tongban.sharing.models import AccessLog

from . import identifiers, rendering
from .models import Certificate, CertificateEvent, PrintRecord, Status

MAX_COPIES = 10
LOOKUP_LIMIT = 30  # failed lookups per clerk and hour: guessing ID numbers stays impractical
NOT_FOUND = "未找到：证照标识与持证人证件号码不匹配，或该证照不存在。请核对后重试"


@dataclass
class Place:
    window: Window
    department: object  # the department of the clerk's membership at this window, or None
    region_path: str
    name: str


def windows_of(user):
    """The active windows the user sits at as a clerk (a clerk membership names its window)."""
    if not getattr(user, "is_authenticated", False):
        return []
    ids = Membership.objects.filter(user=user, role=Membership.CLERK, is_active=True, window__isnull=False).values("window_id")
    return list(Window.objects.filter(pk__in=ids, is_active=True, hall__is_active=True).select_related("hall", "hall__region").order_by("hall_id", "number"))


def place_of(user, window=None) -> Place:
    """Where the clerk prints: the given window (one of theirs) or their first one."""
    windows = windows_of(user)
    if not windows:
        raise authz.PermissionDenied("异地打印须由窗口受理人员在窗口办理：您的窗口受理人员角色未指定窗口，请联系平台管理员设置")
    chosen = windows[0]
    if window not in (None, ""):
        wid = getattr(window, "pk", window)
        chosen = next((w for w in windows if str(w.pk) == str(wid)), None)
        if chosen is None:
            raise authz.PermissionDenied("您不是该窗口的受理人员，不能在该窗口打印")
    m = Membership.objects.filter(user=user, role=Membership.CLERK, is_active=True, window=chosen).select_related("department").first()
    hall = chosen.hall
    return Place(window=chosen, department=m.department if m else hall.department, region_path=hall.region.path,
                 name=f"{hall.name} {chosen.number}号窗口")


def _clean_code(value):
    return str(value or "").strip().upper()[:18]


def _log(user, place, action_outcome, holder_code, identifier="", reason="", case=None, purpose=""):
    return access_log.record(
        "print", holder_code=holder_code, outcome=action_outcome, actor=user,
        actor_department=(place.department.name if place and place.department else (place.name if place else "")),
        identifier=identifier, case=case, purpose=purpose, reason=reason, region_path=place.region_path if place else "",
    )


def lookup(user, identifier, holder_code, *, window=None) -> Certificate:
    """The certificate whose identifier and holder code both match, for a clerk at a window; NotFound
    (404) otherwise, after logging the failed attempt. Not wrapped in a transaction on purpose: the
    log row of a refusal must stay."""
    place = place_of(user, window)
    key = f"cert-print-lookup:{user.pk}"
    ratelimit.check(key, LOOKUP_LIMIT, "查询失败次数过多，请一小时后再试")
    code = _clean_code(holder_code)
    text = identifiers.normalize(identifier)[: identifiers.MAX_LENGTH]
    if not code:
        raise DomainError("请输入持证人的证件号码（公民身份号码或统一社会信用代码）", status=422)
    try:
        identifiers.parse(text)
    except identifiers.IdentifierError as exc:
        raise DomainError(str(exc), status=422) from None
    cert = Certificate.objects.select_related("type", "issuer").filter(identifier=text).first()
    if cert is None or cert.holder_code.upper() != code:
        ratelimit.count(key)
        # The holder of a real certificate reads this attempt in their own log.
        _log(user, place, AccessLog.REFUSED, cert.holder_code if cert else code, text, "异地打印查询：证照标识与证件号码不匹配" if cert else "异地打印查询：证照不存在")
        raise NotFound(NOT_FOUND)
    return cert


def _printable(cert):
    if cert.status != Status.VALID:
        raise Conflict(f"该证照{cert.get_status_display()}，不能打印")
    if cert.valid_until is not None and cert.valid_until < timezone.localdate():
        raise Conflict("该证照已超过有效期，不能打印")


def print_certificate(user, certificate, *, window=None, copies=1, case=None, reason="", holder_code=None):
    """Record one print of a valid certificate at the clerk's window and return (PrintRecord, PDF blob).
    `holder_code` is the ID number the present holder showed (checked again here); without it the
    certificate must be one the clerk may read anyway (their own region and department)."""
    place = place_of(user, window)
    try:
        copies = int(copies)
    except (TypeError, ValueError):
        raise DomainError("打印份数应为数字", status=422) from None
    if not 1 <= copies <= MAX_COPIES:
        raise DomainError(f"打印份数应为1至{MAX_COPIES}份", status=422)
    reason = str(reason or "").strip()
    if len(reason) > 200 or "\x00" in reason:
        raise DomainError("用途最多200字", status=422)
    if case is not None:
        from tongban.cases.models import Case

        if not authz.filter_queryset(Case.objects.filter(pk=case.pk), user).exists():
            raise NotFound("未找到该办件")
    with transaction.atomic():
        cert = Certificate.objects.select_for_update().select_related("type", "issuer").filter(pk=certificate.pk).first()
        if cert is None:
            raise NotFound(NOT_FOUND)
        if holder_code is not None:
            if cert.holder_code.upper() != _clean_code(holder_code):
                raise NotFound(NOT_FOUND)
        elif not authz.filter_queryset(Certificate.objects.filter(pk=cert.pk), user).exists():
            raise NotFound(NOT_FOUND)
        _printable(cert)
        name = user.get_full_name() or user.username
        record = PrintRecord.objects.create(
            certificate=cert, printed_by=user, printed_by_name=name, window=place.window, department=place.department,
            region_path=place.region_path, place=place.name, copies=copies, case=case, reason=reason,
        )
        CertificateEvent.objects.create(certificate=cert, action=CertificateEvent.PRINT, actor=user, actor_name=name, reason=reason,
                                        data={"place": place.name, "copies": copies, "print": record.pk})
        _log(user, place, AccessLog.GRANTED, cert.holder_code, cert.identifier, f"异地打印{copies}份（{place.name}）", case=case, purpose=reason or "异地打印")
        audit.record(user, "certificate_print", cert, f"在{place.name}打印{cert.type.name} {cert.number} {copies}份")
    return record, rendering.pdf_blob(cert)

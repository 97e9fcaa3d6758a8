"""亮证: the holder shows a certificate to a verifier through a short-lived code, choosing which face
items the verifier sees.

The verifier scans a QR code on the holder's screen that opens `/verify/p/<token>/`: the chosen items
and a fresh verdict of the certificate (revoked after the code was made → shown as revoked). The type,
the holder's name, the issuer, the validity and the status are always shown; the holder chooses the
rest (the number, the holder code, each face item). Codes expire after TONGBAN_PRESENTATION_MINUTES.
"""

import datetime
import re
import secrets

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from tongban.core import authz
from tongban.core.errors import DomainError, NotFound

from . import verifying
from .models import Certificate, Presentation, Status

# Head items the holder may hide (the rest of the head is always shown).
HEAD_CHOICES = {"number": "证照编号", "holder_code": "持证主体代码"}
DEFAULT_FIELDS = ["number"]  # pre-ticked: the least that identifies the document
EXPIRED = "亮证码已过期，请持证人重新生成"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def minutes():
    return int(getattr(settings, "TONGBAN_PRESENTATION_MINUTES", 5))


def wallet(applicant):
    """The certificates an applicant holds — their own and, for a legal person's agent, the organisation's:
    exactly what the Certificate scope lets the applicant's account read (an applicant has no staff roles)."""
    return authz.filter_queryset(Certificate.objects.all(), applicant.user)


def held(applicant, certificate_id):
    """One certificate of the applicant's wallet, else 404 (never says whether it exists)."""
    try:
        pk = int(certificate_id)
    except (TypeError, ValueError):
        raise NotFound("未找到该证照") from None
    cert = wallet(applicant).select_related("type", "issuer").filter(pk=pk).first()
    if cert is None:
        raise NotFound("未找到该证照")
    return cert


def face_items(certificate):
    """[(key, label, value)] of the face data in the type's order, then items the type does not list."""
    from .issuing import COMMON_KEYS

    data = certificate.data if isinstance(certificate.data, dict) else {}
    declared = [f for f in (certificate.type.fields or []) if isinstance(f, dict) and f.get("key")]
    rows = [(f["key"], f.get("label") or f["key"], data[f["key"]]) for f in declared if data.get(f["key"]) not in (None, "")]
    seen = {k for k, _, _ in rows}
    rows += [(k, COMMON_KEYS.get(k, k), v) for k, v in data.items() if k not in seen and v not in (None, "")]
    return [(k, label, str(v)) for k, label, v in rows]


def choices(certificate):
    """[(key, label)] the holder may choose to show."""
    return list(HEAD_CHOICES.items()) + [(k, label) for k, label, _ in face_items(certificate)]


def allowed_keys(certificate):
    """Every key the holder may name, in display order: the hideable head items, the type's declared
    items (also those left empty on this certificate) and any other face item it carries."""
    declared = [f["key"] for f in (certificate.type.fields or []) if isinstance(f, dict) and f.get("key")]
    keys = list(HEAD_CHOICES) + declared + [k for k, _, _ in face_items(certificate)]
    return list(dict.fromkeys(keys))


def present(applicant, certificate, fields: list[str]) -> Presentation:
    """A presentation code for one of the applicant's valid certificates showing `fields`."""
    if certificate.holder_id != applicant.pk and not wallet(applicant).filter(pk=certificate.pk).exists():
        raise authz.PermissionDenied("只能出示本人（本单位）持有的证照")
    certificate = Certificate.objects.select_related("type", "issuer").get(pk=certificate.pk)  # its status now, not when read
    verdict = verifying.assess(certificate)
    if verdict.status != verifying.VALID:
        raise DomainError(f"该证照当前为“{verdict.label}”，不能亮证：{verdict.message}", status=409)
    if not isinstance(fields, list | tuple) or any(not isinstance(f, str) for f in fields):
        raise DomainError("请选择要展示的信息项", status=422)
    allowed = allowed_keys(certificate)
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise DomainError("不能展示的信息项：" + "、".join(unknown[:5])[:200], status=422)
    chosen = [k for k in allowed if k in set(fields)]  # the type's order, no duplicates
    return Presentation.objects.create(
        token=secrets.token_urlsafe(24), certificate=certificate, holder=applicant, fields=chosen,
        expires_at=timezone.now() + datetime.timedelta(minutes=minutes()),
    )


def shown(presentation, certificate=None):
    """[(label, value)] the verifier sees: the fixed items and exactly the chosen ones."""
    c = certificate or presentation.certificate
    chosen = set(presentation.fields or [])
    rows = [("证照名称", c.type.name), ("持证主体", c.holder_name)]
    if "holder_code" in chosen:
        rows.append((f"持证主体代码（{c.holder_code_type}）", c.holder_code))
    if "number" in chosen:
        rows.append(("证照编号", c.number))
    rows.append(("发证机构", c.issuer_name))
    rows.append(("有效期", f"{c.valid_from.isoformat()} 至 {c.valid_until.isoformat() if c.valid_until else '长期'}"))
    rows += [(label, value) for key, label, value in face_items(c) if key in chosen]
    return rows


def find(token):
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise NotFound("亮证码无效，请持证人重新生成")
    presentation = Presentation.objects.select_related("certificate__type", "certificate__issuer").filter(token=token).first()
    if presentation is None:
        raise NotFound("亮证码无效，请持证人重新生成")
    return presentation


def open_presentation(token, *, request_meta=None):
    """(presentation, fresh verdict) for the verifier; 410 once expired. Logged for the holder."""
    from tongban.sharing import access_log
    from tongban.sharing.models import AccessLog

    presentation = find(token)
    cert = presentation.certificate
    if presentation.expires_at <= timezone.now():
        access_log.record("present", holder_code=cert.holder_code, outcome=AccessLog.REFUSED, actor_name=verifying.PUBLIC_ACTOR,
                          identifier=cert.identifier, region_path=cert.region_path, purpose="亮证查验", reason=EXPIRED)
        raise DomainError(EXPIRED, status=410)
    verdict = verifying.assess(cert)
    Presentation.objects.filter(pk=presentation.pk).update(views=F("views") + 1)
    presentation.refresh_from_db(fields=["views"])
    labels = "、".join(label for label, _ in shown(presentation, cert))
    verifying.log(verdict, action="present", request_meta=request_meta, purpose="亮证查验", note=f"展示：{labels}"[:200])
    return presentation, verdict


def wallet_status(certificate):
    """The status a holder sees in the list (expired is not stored: it is read from the dates)."""
    if certificate.status == Status.VALID and certificate.valid_until and certificate.valid_until < timezone.localdate():
        return "expired", "已过期"
    return certificate.status, certificate.get_status_display()

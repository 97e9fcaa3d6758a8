"""Issuing, changing and revoking electronic certificates: the one service every entry point (case
conclusion, staff pages, API, admin, e-proofs) goes through.

A certificate is one signed row per version. Its serial comes from a locked counter, its identifier
from the serial (GB/T 36904), and the issuer's key signs the canonical head. A change issues the next
version and supersedes the previous one; a revocation (吊销) or cancellation (注销) ends a version.
"""

import datetime
import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.core import audit, authz
from tongban.core.codes import CodeError, validate_id_number, validate_uscc
from tongban.core.errors import Conflict, DomainError

from . import canonical, identifiers, keys
from .models import Certificate, CertificateEvent, CertificateType, SerialCounter, Status

ID_NUMBER, CREDIT_CODE = "公民身份号码", "统一社会信用代码"
# Face data every type may carry besides its own fields (set from the case that issued it).
COMMON_KEYS = {"result_name": "结果名称", "certificate_no": "原证照编号"}
MAX_TEXT = 500
FIELD_TYPES = ("text", "date", "number")


def _label(fields, key):
    return next((f.get("label") or key for f in fields if f.get("key") == key), COMMON_KEYS.get(key, key))


def validate_data(ctype: CertificateType, data) -> dict:
    """The face data checked against the type's fields: required items present, values of the declared
    type; DomainError 422 in Chinese otherwise. Returns a clean copy (strings stripped)."""
    if not isinstance(data, dict):
        raise DomainError("照面信息格式不正确", status=422)
    fields = [f for f in (ctype.fields or []) if isinstance(f, dict) and f.get("key")]
    known = {f["key"]: f for f in fields}
    errors, clean = [], {}
    # An e-proof type without declared items carries its base-data record as it is (text items).
    open_ended = bool(ctype.proof_source) and not fields
    for key, value in data.items():
        if open_ended and key not in COMMON_KEYS and not (isinstance(key, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", key)):
            errors.append(f"“{str(key)[:40]}”不是有效的数据项标识")
            continue
        if key not in known and key not in COMMON_KEYS and not open_ended:
            errors.append(f"“{key}”不是{ctype.name}的照面信息项")
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        kind = known.get(key, {}).get("type", "text")
        label = _label(fields, key)
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                errors.append(f"{label}应为数字")
                continue
            text = str(value).strip()
            if not re.fullmatch(r"-?[0-9]{1,15}(\.[0-9]{1,6})?", text):
                errors.append(f"{label}应为数字")
                continue
            clean[key] = text
        elif kind == "date":
            try:
                clean[key] = datetime.date.fromisoformat(str(value).strip()).isoformat()
            except ValueError:
                errors.append(f"{label}应为日期（如 2026-01-31）")
        else:
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                errors.append(f"{label}应为文字")
                continue
            text = str(value).strip()
            if len(text) > MAX_TEXT or "\x00" in text:
                errors.append(f"{label}过长或含有不允许的字符（最多{MAX_TEXT}字）")
                continue
            clean[key] = text
    for f in fields:
        if f.get("required") and f["key"] not in clean:
            errors.append(f"请填写{f.get('label') or f['key']}")
    if errors:
        raise DomainError("照面信息不完整或不正确：" + "；".join(errors), details=errors, status=422)
    return clean


def validate_holder(ctype: CertificateType, holder) -> dict:
    if not isinstance(holder, dict):
        raise DomainError("持证主体信息格式不正确", status=422)
    name = str(holder.get("name") or "").strip()
    code = str(holder.get("code") or "").strip().upper()
    code_type = str(holder.get("code_type") or "").strip()
    if not name or len(name) > 200:
        raise DomainError("请填写持证主体名称（最多200字）", status=422)
    if code_type not in (ID_NUMBER, CREDIT_CODE):
        code_type = ID_NUMBER if len(code) == 18 and re.fullmatch(r"[0-9]{17}[0-9X]", code) and ctype.holder_kind != CertificateType.LEGAL else CREDIT_CODE
    if ctype.holder_kind == CertificateType.NATURAL and code_type != ID_NUMBER:
        raise DomainError(f"{ctype.name}的持证主体应为自然人（公民身份号码）", status=422)
    if ctype.holder_kind == CertificateType.LEGAL and code_type != CREDIT_CODE:
        raise DomainError(f"{ctype.name}的持证主体应为法人或其他组织（统一社会信用代码）", status=422)
    try:
        code = validate_id_number(code).number if code_type == ID_NUMBER else validate_uscc(code)
    except CodeError as exc:
        raise DomainError(f"持证主体代码不正确：{exc}", status=422) from None
    return {"name": name, "code": code, "code_type": code_type, "applicant": holder.get("applicant")}


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def validity(ctype, valid_from: datetime.date, valid_until=None):
    if valid_until is not None:
        if valid_until < valid_from:
            raise DomainError("有效期截止日期不能早于起始日期", status=422)
        return valid_until
    if ctype.validity_years:
        return _add_years(valid_from, ctype.validity_years) - datetime.timedelta(days=1)
    return None  # 长期有效


def next_serial(ctype, issuer, year) -> str:
    """`{year}{n:08d}` from the (type, issuer, year) counter, locked until the caller's transaction ends."""
    lookup = {"type": ctype, "issuer": issuer, "year": year}
    counter = SerialCounter.objects.select_for_update().filter(**lookup).first()
    if counter is None:
        try:
            with transaction.atomic():
                SerialCounter.objects.create(**lookup, last=0)
        except IntegrityError:  # created by a concurrent issuance a moment ago: wait for its lock
            pass
        counter = SerialCounter.objects.select_for_update().get(**lookup)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{year}{counter.last:08d}"


def _as_date(value, label):
    if value is None or isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise DomainError(f"{label}应为日期（如 2026-01-31）", status=422) from None


def _actor_name(actor):
    if getattr(actor, "is_authenticated", False):
        return actor.get_full_name() or actor.username
    return "系统"


def _event(cert, action, actor, reason="", data=None):
    user = actor if getattr(actor, "is_authenticated", False) else None
    return CertificateEvent.objects.create(certificate=cert, action=action, actor=user, actor_name=_actor_name(actor), reason=reason[:300], data=data or {})


def sign(cert: Certificate) -> Certificate:
    """Fill algorithm, key id and signature of an unsaved version with the issuer's active key."""
    signer = keys.signer_for(cert.issuer)
    cert.algorithm, cert.key_id = signer.algorithm, signer.key_id
    cert.signature = signer.sign(canonical.head_bytes(canonical.head(cert))).hex()
    return cert


def issue(type, issuer, holder: dict, data: dict, *, case=None, source="case", actor=None, number=None, valid_from=None, valid_until=None) -> Certificate:
    ctype = type
    if not ctype.is_active:
        raise DomainError(f"证照类型“{ctype.name}”已停用，不能签发", status=422)
    holder = validate_holder(ctype, holder)
    clean = validate_data(ctype, data or {})
    valid_from = _as_date(valid_from, "有效期起始日期")
    valid_until = _as_date(valid_until, "有效期截止日期")
    if number is not None and (not str(number).strip() or len(str(number).strip()) > 60):
        raise DomainError("证照编号应为1至60个字符", status=422)
    with transaction.atomic():
        if not ctype.issuing_departments.filter(pk=issuer.pk).exists():
            raise DomainError(f"{issuer.name}不是“{ctype.name}”的发证部门，不能签发该证照", status=403)
        today = timezone.localdate()
        valid_from = valid_from or today
        serial = next_serial(ctype, issuer, today.year)
        region = issuer.region
        cert = Certificate(
            identifier=identifiers.make(ctype.code, issuer.credit_code, serial, 1), type=ctype, serial=serial, version=1,
            number=str(number).strip() if number else f"{region.code[:6]}{serial}",
            holder=holder["applicant"], holder_name=holder["name"], holder_code=holder["code"], holder_code_type=holder["code_type"],
            issuer=issuer, issuer_name=issuer.name, issuer_code=issuer.credit_code, region_path=region.path, jurisdiction=region.code,
            issued_on=today, valid_from=valid_from, valid_until=validity(ctype, valid_from, valid_until), data=clean,
            case=case, source=source,
        )
        sign(cert).save()
        _event(cert, CertificateEvent.ISSUE, actor, data={"identifier": cert.identifier, "source": source, "case": getattr(case, "case_no", "") or ""})
        audit.record(actor, "certificate_issue", cert, f"签发{ctype.name} {cert.number}（{cert.identifier}）给{holder['name']}")
    return cert


def _locked(certificate) -> Certificate:
    cert = Certificate.objects.select_for_update().select_related("type", "issuer__region").filter(pk=certificate.pk).first()
    if cert is None:
        raise DomainError("未找到该证照", status=404)
    return cert


def _ensure_issuer(actor, cert, what):
    if actor is not None and not authz.can(actor, cert, authz.WRITE):
        raise authz.PermissionDenied(f"只有发证部门的审批人员可以{what}该证照")


def change(certificate, data: dict, actor, reason) -> Certificate:
    """变更: the next version with new face data (same serial and number), the current one superseded."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写变更原因", status=422)
    if len(reason) > 300:
        raise DomainError("变更原因最多300字", status=422)
    with transaction.atomic():
        old = _locked(certificate)
        _ensure_issuer(actor, old, "变更")
        if old.status != Status.VALID:
            raise Conflict(f"该证照当前状态为“{old.get_status_display()}”，不能变更（可能已被他人处理，请刷新后查看）")
        clean = validate_data(old.type, data or {})
        if clean == old.data:
            raise DomainError("照面信息没有变化，无需变更", status=422)
        if old.version >= 999:
            raise Conflict("该证照的版本号已达上限，不能再变更")
        now = timezone.now()
        old.status, old.status_reason, old.status_changed_at, old.pdf = Status.SUPERSEDED, reason, now, None
        old.save(update_fields=["status", "status_reason", "status_changed_at", "pdf"])
        new = Certificate(
            identifier=identifiers.make(old.type.code, old.issuer_code, old.serial, old.version + 1), type=old.type, serial=old.serial,
            version=old.version + 1, number=old.number, holder_id=old.holder_id, holder_name=old.holder_name, holder_code=old.holder_code,
            holder_code_type=old.holder_code_type, issuer=old.issuer, issuer_name=old.issuer_name, issuer_code=old.issuer_code,
            region_path=old.region_path, jurisdiction=old.jurisdiction, issued_on=timezone.localdate(), valid_from=old.valid_from,
            valid_until=old.valid_until, data=clean, supersedes=old, case=old.case, source=old.source,
        )
        sign(new).save()
        _event(old, CertificateEvent.SUPERSEDE, actor, reason, {"new": new.identifier})
        _event(new, CertificateEvent.ISSUE, actor, reason, {"identifier": new.identifier, "supersedes": old.identifier})
        audit.record(actor, "certificate_change", new, f"变更{old.type.name} {old.number}：{old.identifier} → {new.identifier}，原因：{reason}")
    return new


def revoke(certificate, actor, reason, cancel=False) -> Certificate:
    """吊销 (or 注销 when `cancel`): the version stops being valid; the reason is required."""
    what = "注销" if cancel else "吊销"
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(f"请填写{what}原因", status=422)
    if len(reason) > 300:
        raise DomainError(f"{what}原因最多300字", status=422)
    with transaction.atomic():
        cert = _locked(certificate)
        _ensure_issuer(actor, cert, what)
        if cert.status != Status.VALID:
            raise Conflict(f"该证照当前状态为“{cert.get_status_display()}”，不能{what}（可能已被他人处理，请刷新后查看）")
        cert.status = Status.CANCELLED if cancel else Status.REVOKED
        cert.status_reason, cert.status_changed_at, cert.pdf = reason, timezone.now(), None
        cert.save(update_fields=["status", "status_reason", "status_changed_at", "pdf"])
        _event(cert, CertificateEvent.CANCEL if cancel else CertificateEvent.REVOKE, actor, reason)
        audit.record(actor, "certificate_cancel" if cancel else "certificate_revoke", cert, f"{what}{cert.type.name} {cert.number}（{cert.identifier}），原因：{reason}")
    return cert


def holder_of_case(case) -> dict:
    return {"name": case.applicant_name, "code": case.applicant_code, "code_type": case.applicant_code_type, "applicant": case.applicant}


def data_of_case(case, ctype) -> dict:
    """The type's face items found in the application form, plus the case's result name and number."""
    form = case.form_data if isinstance(case.form_data, dict) else {}
    data = {f["key"]: form[f["key"]] for f in ctype.fields or [] if isinstance(f, dict) and f.get("key") in form}
    if case.result_name:
        data["result_name"] = case.result_name
    if case.certificate_no:
        data["certificate_no"] = case.certificate_no
    return data


def issue_for_case(case, actor=None) -> Certificate | None:
    """The certificate an approved case issues on conclusion (None when its item issues none or it was
    issued already). Called inside the conclusion's transaction."""
    ctype = getattr(case.item_version, "certificate_type", None)
    if ctype is None:
        return None
    if Certificate.objects.filter(case=case).exists():
        return None  # once per case (a retried or replayed conclusion)
    try:
        cert = issue(ctype, case.department, holder_of_case(case), data_of_case(case, ctype), case=case, source="case", actor=actor)
    except DomainError as exc:
        # A catalogue gap (this department not yet an issuer of the type) is a conflict of the case's
        # state, not the approver's permission: 409, and the conclusion waits until it is fixed.
        status = 409 if exc.status == 403 else exc.status
        raise DomainError(f"办结时签发{ctype.name}失败：{exc.message}", details=exc.details, status=status) from None
    if not case.certificate_no:
        case.certificate_no = cert.identifier
        type(case).objects.filter(pk=case.pk).update(certificate_no=cert.identifier)
    return cert


# --- the catalogue of types ------------------------------------------------------------------------

def check_type(ctype: CertificateType):
    """A catalogue entry's own rules: the GB/T 36904 type code (a valid credit code + 3 digits) and
    well-formed face items. DomainError 422 in Chinese otherwise."""
    code = (ctype.code or "").strip().upper()
    if not re.fullmatch(r"[0-9A-Z]{18}[0-9]{3}", code):
        raise DomainError("证照类型代码应为主管部委统一社会信用代码（18位）加3位顺序号", status=422)
    try:
        validate_uscc(code[:18])
    except CodeError as exc:
        raise DomainError(f"证照类型代码前18位：{exc}", status=422) from None
    ctype.code = code
    if ctype.pk:
        # The type's code and name are in every certificate's signed head: renaming would make them all
        # verify as forged. A new type (and re-issuing) is the way to rename.
        old = CertificateType.objects.filter(pk=ctype.pk).values_list("code", "name").first()
        if old and old != (ctype.code, ctype.name) and Certificate.objects.filter(type_id=ctype.pk).exists():
            raise DomainError("该证照类型已签发证照，不能修改代码或名称（会使已签发证照的签名失效）；请新建证照类型", status=409)
    fields = ctype.fields
    if not isinstance(fields, list):
        raise DomainError("照面信息项应为列表：[{\"key\", \"label\", \"type\", \"required\"}]", status=422)
    seen = set()
    for i, f in enumerate(fields, 1):
        if not isinstance(f, dict) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", str(f.get("key", ""))):
            raise DomainError(f"第{i}个照面信息项的 key 应为小写英文字母、数字或下划线", status=422)
        if f["key"] in seen or f["key"] in COMMON_KEYS:
            raise DomainError(f"照面信息项 {f['key']} 重复或与保留项重名", status=422)
        seen.add(f["key"])
        if not str(f.get("label") or "").strip():
            raise DomainError(f"照面信息项 {f['key']} 缺少名称（label）", status=422)
        if f.get("type", "text") not in FIELD_TYPES:
            raise DomainError(f"照面信息项 {f['key']} 的类型只能是 text、date、number", status=422)
    if not isinstance(ctype.stands_for, list) or not all(isinstance(s, str) for s in ctype.stands_for):
        raise DomainError("可替代的申请材料名称应为字符串列表", status=422)
    return ctype


def save_type(actor, ctype: CertificateType):
    """Save a catalogue entry (admin, import) after its rules and the editor's scope."""
    check_type(ctype)
    authz.ensure_can_change(actor, ctype)
    with transaction.atomic():
        created = ctype.pk is None
        ctype.save()
        audit.record(actor, "certificate_type_create" if created else "certificate_type_change", ctype, f"{'新增' if created else '修改'}证照目录 {ctype}")
    return ctype

"""Applying online: a draft per application, its form filled from the item version's definition,
materials uploaded against the version's material list, then one submission."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from tongban.catalog.formdef import validate_data
from tongban.catalog.models import Implementation, ItemVersion, Material
from tongban.core import authz
from tongban.core.api_common import get_visible
from tongban.core.errors import Conflict, DomainError
from tongban.core.files import read_upload, store_bytes, store_many, store_upload
from tongban.directory.services import address_code_exists, region_by_code

from . import handling
from .models import Case, CaseMaterial, DeliveryMethod
from .models import Status as S

UPLOAD_STATUSES = (S.DRAFT, S.SUPPLEMENT, S.ACCEPTED, S.UNDER_REVIEW, S.SPECIAL, S.APPROVED, S.DENIED, S.CONCLUDED)


def form_fields(version):
    form = getattr(version, "application_form", None)
    return form.fields if form is not None else []


def _store_form_file(upload):
    blob = store_upload(upload)
    return {"sha256": blob.sha256, "file_name": str(upload.name)[:255], "content_type": blob.content_type}


def clean_form(version, data, files=None, partial=False):
    """Validated form values; with `partial` (a draft) required fields may still be empty."""
    return clean_fields(form_fields(version), data, files, partial)


def clean_fields(fields, data, files=None, partial=False):
    """`data` validated against a form definition (an item's, or a bundle's merged one)."""
    if not isinstance(data, dict):
        raise DomainError("申请表应为对象（字段标识 → 值）", status=422)
    if partial:
        fields = [dict(f, required=False) for f in fields]
    clean, errors = validate_data(fields, data, files, store_file=_store_form_file, address_exists=address_code_exists,
                                  region_exists=lambda c: region_by_code(c) is not None)
    if errors:
        raise DomainError("申请表填写有误：" + "；".join(f"{k}：{v}" for k, v in errors.items()), details=[{"field": k, "message": v} for k, v in errors.items()], status=422)
    return clean


def applicable_implementation(implementation_code, mode="online"):
    """The implementation and its published version; `mode` (全程网办 by default) must be supported."""
    impl = (Implementation.objects.select_related("item", "region", "department")
            .filter(implementation_code=str(implementation_code or "").strip().upper(), is_active=True).first())
    if impl is None:
        raise DomainError(f"实施编码“{implementation_code}”不存在或未在用", status=422)
    if mode == "online" and "online" not in impl.get_modes_names():
        raise DomainError("该事项在此地不支持全程网办，请到窗口申请", status=422)
    version = impl.item.versions.filter(status=ItemVersion.PUBLISHED).first()
    if version is None:
        raise DomainError("该事项暂无已发布的办事指南，暂不能申请", status=422)
    return impl, version


@transaction.atomic
def create_draft(applicant, implementation_code, form=None, files=None, delivery_method=None, delivery_address=""):
    impl, version = applicable_implementation(implementation_code)
    case = new_case(applicant, impl, version, form, delivery_method, delivery_address, files)
    case.save()
    return case


def new_case(applicant, impl, version, form=None, delivery_method=None, delivery_address="", files=None):
    """An unsaved draft of `impl` (its published `version`) for `applicant` (online, or opened at a window)."""
    codes = [c.strip() for c in version.service_objects.split(",")]
    if applicant.applicant_type not in codes:
        raise DomainError("该事项的服务对象不包括您的申请人类型", status=422)
    case = Case(
        applicant=applicant, implementation=impl, item_version=version, region=impl.region, region_path=impl.region.path,
        department=impl.department, applicant_name=applicant.name, applicant_type=applicant.applicant_type,
        applicant_code_type=applicant.code_type, applicant_code=applicant.code, agent_name=applicant.agent_name,
        contact_phone=applicant.phone, case_kind=version.case_kind, fee_amount=impl.fee_amount,
        promised_days=impl.promised_limit_days, statutory_days=impl.statutory_limit_days,
    )
    _set_delivery(case, impl, delivery_method or (impl.get_delivery_methods_names() or [DeliveryMethod.MAIL])[0], delivery_address)
    case.form_data = clean_form(version, form or {}, files, partial=True)
    return case


def _set_delivery(case, impl, method, address):
    allowed = impl.get_delivery_methods_names() or [DeliveryMethod.MAIL]
    if method not in allowed:
        labels = "、".join(DeliveryMethod(m).label for m in allowed if m in DeliveryMethod.values)
        raise DomainError(f"该事项可选的送达方式为：{labels}", status=422)
    address = (address or "").strip()
    if len(address) > 300 or "\x00" in address:
        raise DomainError("送达地址不能超过300个字符", status=422)
    case.delivery_method, case.delivery_address = method, address


def own_case(user, case_id, lock=False):
    """The applicant's own case (404 for anyone else's: a guessed number reveals nothing)."""
    # Read through the one authorisation filter; acting as the applicant then needs the case to be theirs.
    qs = authz.filter_queryset(Case.objects.filter(pk=case_id), user).filter(applicant__user_id=getattr(user, "pk", None))
    if lock:
        qs = Case.objects.select_for_update().filter(pk__in=list(qs.values_list("pk", flat=True)))
    case = qs.select_related("item_version", "implementation").first()
    if case is None:
        raise Http404
    return case


@transaction.atomic
def update_draft(user, case_id, form=None, files=None, delivery_method=None, delivery_address=None, commitments=None):
    case = own_case(user, case_id, lock=True)
    if case.status != S.DRAFT:
        raise Conflict("申请已提交，不能再修改申请表")
    if form is not None or files:
        merged = {**case.form_data, **(form or {})}
        case.form_data = clean_form(case.item_version, merged, files, partial=True)
    if delivery_method is not None or delivery_address is not None:
        _set_delivery(case, case.implementation, delivery_method or case.delivery_method, case.delivery_address if delivery_address is None else delivery_address)
    if commitments is not None:
        case.commitments = _commitments(case, commitments)
    case.save()
    return case


def _commitments(case, material_ids):
    """容缺受理 asked for by the applicant: a signed 告知承诺 per required material they will hand in later."""
    if not isinstance(material_ids, list):
        raise DomainError("容缺材料应为材料编号列表", status=422)
    materials = {m.pk: m for m in case.item_version.materials.filter(pk__in=[i for i in material_ids if isinstance(i, int)])}
    if len(materials) != len(set(material_ids)):
        raise DomainError("容缺材料应为本事项的申请材料", status=422)
    now = timezone.now().isoformat(timespec="seconds")
    return [{"material_id": m.pk, "name": m.name, "signed_by": case.applicant_name, "signed_at": now,
             "text": f"本人（单位）承诺在受理后{settings.TONGBAN_DEFERRED_DAYS}个工作日内补交“{m.name}”，并对所作承诺的真实性负责；逾期未补交的，愿意承担相应后果。"}
            for m in materials.values()]


def add_material(user, case_id, material_id, upload, how="online"):
    """Store an uploaded material against the case (a new round when the case is past its draft)."""
    case = own_case(user, case_id)
    return store_material(case, material_id, upload, how)


def store_material(case, material_id, upload, how):
    if case.status not in UPLOAD_STATUSES:
        raise Conflict("办件当前状态不能再上传材料")
    material = Material.objects.filter(pk=material_id, version=case.item_version).first() if isinstance(material_id, int) or str(material_id).isdigit() else None
    if material is None:
        raise DomainError("该事项没有这项申请材料", status=422)
    blob = store_upload(upload)  # size and type checked here, before anything is written to the case
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.status not in UPLOAD_STATUSES:
            raise Conflict("办件当前状态不能再上传材料")
        rnd = 1 if locked.status == S.DRAFT else 1 + locked.supplements.count()
        return CaseMaterial.objects.create(case=locked, material=material, name=material.name, blob=blob,
                                           file_name=str(getattr(upload, "name", "") or material.name)[:255], round=rnd, how=how)


def create_application(applicant, user, implementation_code, form=None, files=None, materials=None, delivery_method=None,
                       delivery_address="", commitments=None, submit_now=False, token=None):
    """One request's whole application: draft, materials (checked, then stored in one go), and the
    submission — all in one transaction, so a refused submission leaves nothing behind."""
    materials = materials or {}
    with transaction.atomic():
        case = create_draft(applicant, implementation_code, form, files, delivery_method, delivery_address)
        if commitments:
            case.commitments = _commitments(case, commitments)
            case.save(update_fields=["commitments"])
        known = {m.pk: m for m in case.item_version.materials.all()}
        checked = []
        for material_id, upload in materials.items():
            material = known.get(int(material_id)) if str(material_id).isdigit() else None
            if material is None:
                raise DomainError(f"该事项没有编号为{material_id}的申请材料", status=422)
            checked.append((material, upload, *read_upload(upload)))
        blobs = store_many([(data, kind) for _, _, data, kind in checked])
        CaseMaterial.objects.bulk_create([
            CaseMaterial(case=case, material=m, name=m.name, blob=blob, file_name=str(getattr(u, "name", "") or m.name)[:255])
            for (m, u, _, _), blob in zip(checked, blobs)
        ])
        if submit_now:
            return handling.perform(case.pk, "submit", user, params={"token": token})
    return case


def add_material_bytes(case, material, data, content_type, file_name, how="window"):
    blob = store_bytes(data, content_type)
    return CaseMaterial.objects.create(case=case, material=material, name=material.name, blob=blob, file_name=file_name[:255], how=how)


def missing_required(case):
    have = set(case.materials.values_list("material_id", flat=True))
    deferred = {c["material_id"] for c in case.commitments}
    return [m.name for m in case.item_version.materials.all() if m.necessity == "required" and m.pk not in have and m.pk not in deferred]


def check_complete(case):
    """Before a submission: the form's required fields and every required material (or its 告知承诺)."""
    clean_form(case.item_version, case.form_data)
    missing = missing_required(case)
    if missing:
        raise DomainError(f"请上传必要材料：{'、'.join(missing)}（或对可容缺的材料签署告知承诺）", status=422)


def submit(user, case_id, token=None):
    try:  # perform reads the case through the authorisation filter: another applicant's case is a 404
        return handling.perform(case_id, "submit", user, params={"token": token})
    except IntegrityError:
        # The same token used for another draft of this applicant: that submission already exists.
        existing = Case.objects.filter(submit_token=token, applicant__user=user).first() if token else None
        if existing is None:
            raise
        return existing


def submitted_by_token(user, token):
    if not token:
        return None
    return authz.filter_queryset(Case.objects.filter(submit_token=token), user).exclude(status=S.DRAFT).first()


def visible_case(user, case_id):
    """The case through the authorisation filter (404 when not readable), with what pages show of it."""
    return get_visible(Case.objects.select_related("item_version", "implementation__item", "department", "region", "process"), user, pk=case_id)

"""Issuing the notices of a case: the context from the case, the PDF from cases.documents, the file
stored content-addressed and kept as a CaseDocument (a notice, once issued, does not change)."""

import json

from django.conf import settings
from django.utils import timezone

from tongban.core.files import store_bytes
from tongban.core.masking import mask_id_number, mask_phone

from . import documents
from .models import CaseDocument, DeliveryMethod


def _day(dt):
    if dt is None:
        return ""
    d = timezone.localdate(dt) if hasattr(dt, "hour") else dt
    return f"{d.year}年{d.month}月{d.day}日"


def context(case, **extra):
    impl, version = case.implementation, case.item_version
    materials = extra.pop("materials", None)
    if materials is None:
        materials = material_rows(case)
    ctx = {
        "case_no": case.case_no or "", "item_name": version.name, "item_code": impl.item.basic_code,
        "implementation_code": impl.implementation_code, "applicant_name": case.applicant_name,
        "applicant_code_masked": mask_id_number(case.applicant_code), "agent_name": case.agent_name,
        "contact_phone_masked": mask_phone(case.contact_phone), "department_name": case.department.name,
        "department_seal_name": case.department.name, "region_name": case.region.name,
        "submitted_at": _day(case.submitted_at), "accepted_at": _day(case.accepted_at), "issued_at": _day(timezone.now()),
        "due_date": _day(case.due_date), "promised_days": case.promised_days, "statutory_days": case.statutory_days,
        "materials": materials, "reason": case.decision_reason, "supplement_items": [], "supplement_note": "",
        "result_name": case.result_name or version.result_name, "certificate_no": case.certificate_no,
        "delivery_method_label": DeliveryMethod(case.delivery_method).label, "fee_amount": f"{case.fee_amount:.2f}",
        "query_url": f"{settings.TONGBAN_PUBLIC_URL}/track/?case_no={case.case_no or ''}", "remedy": "",
    }
    ctx.update(extra)
    return ctx


def issue(case, kind, **extra):
    """Issue a notice: its content is fixed now; the PDF follows on first download (see pdf_blob)."""
    if kind not in documents.KINDS:
        raise ValueError(kind)
    return CaseDocument.objects.create(case=case, kind=kind, content=json.loads(json.dumps(context(case, **extra), default=str)))


def pdf_blob(document):
    """The PDF of an issued notice, rendered once from its fixed content."""
    if document.blob_id is None:
        blob = store_bytes(documents.render(document.kind, document.content), "application/pdf")
        CaseDocument.objects.filter(pk=document.pk, blob__isnull=True).update(blob=blob)
        document.blob = blob
    return document.blob


def material_rows(case):
    return [{"name": m.name, "how": "网上上传" if m.how == "online" else "窗口收取", "count": 1} for m in current_materials(case)]


def current_materials(case):
    """The newest row per material (a resubmitted file supersedes the earlier one)."""
    latest = {}
    for m in case.materials.select_related("material").order_by("id"):
        latest[m.material_id or f"x{m.pk}"] = m
    return sorted(latest.values(), key=lambda m: (m.material.seq if m.material else 999, m.pk))

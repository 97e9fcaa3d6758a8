"""What the applicant could use instead of uploading (免提交): for each material of a draft case, their
valid certificates whose type can stand for it, and e-proofs that can be issued from base data they
have — only where the case's department holds a grant of the data service (deny by default)."""

import re
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from tongban.bundles.merging import normalise as _normalise_text
from tongban.core.masking import mask_id_number

from . import grants
from .models import BaseRecord, DataService

_FORMS = re.compile(r"(复印件|原件|电子版|扫描件|影印件|副本|正本)")


def normalise(name):
    """A material or certificate name without its form (复印件/原件/电子版/扫描件) and punctuation."""
    return _normalise_text(_FORMS.sub("", str(name or "")))


def stands_for(cert_type, material_name) -> bool:
    """Can a certificate of `cert_type` stand for the material? Its name (or one it stands for) is the
    material's name, or the noun the material's name ends with (“参保人员居民户口簿” → 居民户口簿)."""
    wanted = normalise(material_name)
    if not wanted:
        return False
    names = {normalise(n) for n in [cert_type.name, *(n for n in (cert_type.stands_for or []) if isinstance(n, str))]}
    return any(n and (n == wanted or (len(n) >= 3 and wanted.endswith(n))) for n in names)


@dataclass
class Offer:
    material: object
    kind: str  # "certificate" (one in the wallet) or "proof" (an e-proof issued now from base data)
    service: object
    label: str
    key: str  # how a form names the offer: c<certificate id> / p<service id>
    certificate: object = None
    proof_type: object = None
    record: object = None
    preview: list = field(default_factory=list)  # [(label, value)], ID numbers masked

    @property
    def provider_name(self):
        return self.service.provider.name if self.service is not None else ""


def _mask(value):
    text = str(value if value is not None else "")
    return mask_id_number(text) if re.fullmatch(r"\d{17}[\dXx]", text) else text


def certificate_preview(certificate):
    rows = [("证照名称", certificate.type.name), ("证照编号", certificate.number), ("持证主体", certificate.holder_name),
            ("持证主体代码", mask_id_number(certificate.holder_code)), ("发证机构", certificate.issuer_name),
            ("颁发日期", certificate.issued_on.isoformat()),
            ("有效期", f"{certificate.valid_from.isoformat()} 至 {certificate.valid_until.isoformat() if certificate.valid_until else '长期'}")]
    labels = {f.get("key"): f.get("label") for f in certificate.type.fields or [] if isinstance(f, dict)}
    for key, value in (certificate.data or {}).items():
        rows.append((labels.get(key) or key, _mask(value)))
    return rows


def record_preview(record, proof_type=None, service=None):
    labels = {}
    for source in ((proof_type.fields if proof_type else None) or [], (service.fields if service else None) or []):
        for f in source:
            if isinstance(f, dict) and f.get("key"):
                labels.setdefault(f["key"], f.get("label") or f["key"])
    rows = [("数据提供部门", record.provider.name), ("主体", record.subject_name), ("主体代码", mask_id_number(record.subject_code))]
    rows += [(labels.get(k) or k, _mask(v)) for k, v in (record.data or {}).items()]
    return rows


def wallet(code):
    """The holder's certificates usable now: valid and not past their end date."""
    from tongban.certificates.models import Certificate, Status

    today = timezone.localdate()
    if not code:
        return Certificate.objects.none()
    return (Certificate.objects.filter(holder_code=code, status=Status.VALID).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
            .select_related("type", "issuer").order_by("-issued_on", "-id"))


def proof_types():
    from tongban.certificates.models import CertificateType

    return list(CertificateType.objects.filter(is_active=True).exclude(proof_source="").order_by("code"))


def base_service(record):
    """The provider's own service of this kind of base data (an e-proof is issued by the record's keeper)."""
    return DataService.objects.filter(source=DataService.BASE_DATA, base_kind=record.kind, provider_id=record.provider_id, is_active=True).first()


def offers(case, material=None) -> list[Offer]:
    """Rows {material, certificate or proof type, service, label, preview} for the case's materials
    (or one material), where the case's department may use the service for the case's item."""
    version = case.item_version
    materials = [material] if material is not None else list(version.materials.order_by("seq"))
    item_code = version.item.basic_code
    department = case.department
    certificates = list(wallet(case.applicant_code))
    records = list(BaseRecord.objects.filter(subject_code=case.applicant_code).select_related("provider"))
    ptypes = [t for t in proof_types() if any(r.kind == t.proof_source for r in records)]
    # Each certificate's and record's data service, looked up once (not once per material).
    cert_services = {c.pk: grants.service_for_certificate(c) for c in certificates}
    record_services = {r.pk: base_service(r) for r in records if any(r.kind == t.proof_source for t in ptypes)}
    permitted = {}

    def ok(service):
        if service is None:
            return False
        if service.pk not in permitted:
            permitted[service.pk] = grants.allowed(department, service, item_code)
        return permitted[service.pk]

    out = []
    for m in materials:
        for c in certificates:
            if not stands_for(c.type, m.name):
                continue
            service = cert_services[c.pk]
            if ok(service):
                out.append(Offer(material=m, kind="certificate", certificate=c, service=service, key=f"c{c.pk}",
                                 label=f"{c.type.name}（{c.number}，{c.issuer_name}）", preview=certificate_preview(c)))
        for t in ptypes:
            if not stands_for(t, m.name):
                continue
            for r in records:
                if r.kind != t.proof_source:
                    continue
                service = record_services[r.pk]
                if ok(service):
                    out.append(Offer(material=m, kind="proof", proof_type=t, record=r, service=service, key=f"p{service.pk}",
                                     label=f"开具{t.name}（由{r.provider.name}出具）", preview=record_preview(r, t, service)))
                    break
    return out


def offers_by_material(case):
    rows = {}
    for o in offers(case):
        rows.setdefault(o.material.pk, []).append(o)
    return rows

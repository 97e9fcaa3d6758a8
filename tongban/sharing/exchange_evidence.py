"""Cross-node use of evidence (跨节点用证). When a certificate's issuer is served by another node, the
consumer node (where the applicant applies and consents) records an EvidenceRequest and sends
`evidence_request`; the provider node checks the consumer department's grant and that the certificate
belongs to the holder, then sends `evidence_release` (the signed head, the face data, the issuer's
public key and the PDF as a blob) or `evidence_refusal`, and logs it on its side. The consumer verifies
the released head's signature — against the issuer key it already knows when it has it, else it
records that it trusted the key carried in the provider node's signed envelope — attaches the PDF as
the material and logs the use. Every message is applied once (the exchange's inbox)."""

import uuid
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from tongban.core.errors import DomainError
from tongban.exchange import service as exchange

from . import access_log, grants
from .models import AccessLog, Consent, EvidenceRequest, UsedEvidence

REQUEST, RELEASE, REFUSAL = "evidence_request", "evidence_release", "evidence_refusal"


def _stream(case_uid):
    return f"evidence-{case_uid}"


def _case_ref(uid, case_no):
    return SimpleNamespace(uid=uid, case_no=case_no or "")


# --- consumer: asking -------------------------------------------------------------------------------

def request(applicant, case, consent):
    """Inside attach's transaction (consent and case locked): record the request and send it."""
    cert = consent.certificate
    provider = exchange.node_for_region(cert.region_path)
    me = exchange.self_node()
    er = EvidenceRequest.objects.create(
        uid=uuid.uuid4(), side=EvidenceRequest.CONSUMER, consumer_node=me.node_id, provider_node=provider.node_id, region_path=case.region_path,
        case_uid=case.uid, case_no=case.case_no or "", consumer_department_code=case.department.credit_code,
        consumer_department_name=case.department.name, holder_code=applicant.code, holder_name=applicant.name, identifier=cert.identifier,
        service_code=consent.service.code if consent.service_id else "", purpose=consent.purpose,
        consent={"id": consent.pk, "given_at": consent.given_at.isoformat(), "expires_at": consent.expires_at.isoformat(),
                 "scope": {"case_uid": str(case.uid), "material": consent.material.name if consent.material_id else "",
                           "evidence": consent.evidence_label}, "material_id": consent.material_id},
    )
    payload = {"uid": str(er.uid), "case_uid": str(case.uid), "case_no": er.case_no, "item_code": case.item_version.item.basic_code,
               "consumer_department_code": er.consumer_department_code, "consumer_department_name": er.consumer_department_name,
               "holder_code": er.holder_code, "holder_name": er.holder_name, "identifier": er.identifier, "purpose": er.purpose,
               "consent": {k: v for k, v in er.consent.items() if k != "material_id"}}
    try:
        exchange.send(provider.node_id, REQUEST, payload, stream=_stream(case.uid))
    except exchange.PermanentError as exc:  # the issuer's node is not registered or not active here
        raise DomainError(f"暂时无法向发证地节点请求该证照（{exc}），请自行上传", status=409) from None
    consent.status, consent.used_at = Consent.USED, timezone.now()
    consent.save(update_fields=["status", "used_at"])
    access_log.record("request", holder_code=applicant.code, outcome=AccessLog.GRANTED, actor=applicant.user,
                      actor_department=case.department.name, actor_node=me.node_id, identifier=cert.identifier, region_path=cert.region_path,
                      service_code=er.service_code, case=case, purpose=consent.purpose, consent_ref=consent.pk,
                      reason=f"向节点{provider.node_id}请求")
    return er


# --- provider: answering ----------------------------------------------------------------------------

def _refusal_reason(p):
    from tongban.certificates.models import Certificate
    from tongban.directory.models import Department

    cert = Certificate.objects.select_related("type").filter(identifier=str(p.get("identifier", ""))[:120]).first()
    if cert is None:
        return None, None, "本节点没有该证照"
    if cert.holder_code != p.get("holder_code"):
        return cert, None, "证照持证主体与申请人不一致"
    consent = p.get("consent") or {}
    if not consent.get("id") or not consent.get("given_at"):
        return cert, None, "缺少申请人的授权凭据"
    consumer = Department.objects.filter(credit_code=str(p.get("consumer_department_code", ""))[:18]).first()
    if consumer is None:
        return cert, None, "请求部门未在本节点登记"
    service = grants.service_for_certificate(cert)
    if not grants.allowed(consumer, service, str(p.get("item_code", ""))[:12]):
        return cert, service, "请求部门未获得该证照的共享授权"
    return cert, service, ""


def receive_request(msg):
    from tongban.certificates import canonical, keys, rendering, verifying

    p = msg.payload
    if EvidenceRequest.objects.filter(uid=p["uid"]).exists():
        return
    cert, service, reason = _refusal_reason(p)
    verdict = None
    if not reason:
        verdict = verifying.assess(cert)
        if verdict.status != "valid":
            reason = f"证照{verdict.label}"
    consent = p.get("consent") or {}
    er = EvidenceRequest.objects.create(
        uid=p["uid"], side=EvidenceRequest.PROVIDER, consumer_node=msg.sender, provider_node=exchange.self_node().node_id,
        region_path=cert.region_path if cert else "", case_uid=p["case_uid"], case_no=str(p.get("case_no", ""))[:24],
        consumer_department_code=str(p.get("consumer_department_code", ""))[:18], consumer_department_name=str(p.get("consumer_department_name", ""))[:120],
        holder_code=str(p.get("holder_code", ""))[:18], holder_name=str(p.get("holder_name", ""))[:200], identifier=str(p.get("identifier", ""))[:120],
        service_code=service.code if service else "", purpose=str(p.get("purpose", ""))[:300], consent=consent,
        status=EvidenceRequest.REFUSED if reason else EvidenceRequest.RELEASED, reason=reason, answered_at=timezone.now())
    log = {"holder_code": er.holder_code, "actor_name": f"{er.consumer_department_name}（节点{msg.sender}）", "actor_department": er.consumer_department_name,
           "actor_node": msg.sender, "identifier": er.identifier, "region_path": er.region_path, "service_code": er.service_code,
           "case": _case_ref(er.case_uid, er.case_no), "purpose": er.purpose, "consent_ref": f"{msg.sender}:{consent.get('id', '')}"}
    if reason:
        exchange.send(msg.sender, REFUSAL, {"uid": p["uid"], "reason": reason}, stream=_stream(p["case_uid"]))
        access_log.record("release", outcome=AccessLog.REFUSED, reason=reason, **log)
        return
    blob = rendering.pdf_blob(cert)
    key = keys.public_key(cert.key_id)
    payload = {"uid": p["uid"], "head": canonical.head(cert), "signature": cert.signature, "data": cert.data, "pdf": blob.sha256,
               "file_name": f"{cert.type.name}-{cert.number}.pdf", "issuer_key": {"key_id": cert.key_id, "algorithm": cert.algorithm,
                                                                                  "public_key": key.public_key if key else ""}}
    er.payload = {"head": payload["head"]}
    er.save(update_fields=["payload"])
    exchange.send(msg.sender, RELEASE, payload, stream=_stream(p["case_uid"]), blobs=[blob.sha256])
    access_log.record("release", outcome=AccessLog.GRANTED, **log)


# --- consumer: receiving ----------------------------------------------------------------------------

def _check_release(p, er):
    """(ok, trust note or failure reason) for a released head."""
    from tongban.certificates import canonical, keys
    from tongban.exchange import signing

    head, data, key = p.get("head") or {}, p.get("data") or {}, p.get("issuer_key") or {}
    if head.get("id") != er.identifier or head.get("hc") != er.holder_code:
        return False, "提供的证照与请求不一致"
    if canonical.data_digest(head.get("a", ""), data) != head.get("dh"):
        return False, "照面信息与签名摘要不一致"
    known = keys.public_key(head.get("k"))
    if known is not None:
        offered = str(key.get("public_key", "")).lower()
        if known.status == known.REVOKED or (offered and known.public_key.lower() != offered):
            return False, "发证密钥与本节点登记的不一致或已吊销"
        public, note = known.public_key, "发证密钥与本节点登记的一致"
    else:
        from tongban.certificates import peers

        # The provider's trust list (signed by its node, synced beforehand — no HTTP inside this
        # transaction) names the issuer's keys: the offered key must be one of them.
        listed = peers.find_keys(head.get("k"), refresh=False)
        offered = str(key.get("public_key", "")).lower()
        if listed:
            first = listed[0]
            if first.revoked or first.credit_code != head.get("i") or str(first.key.get("public_key", "")).lower() != offered:
                return False, "发证密钥与提供方节点的可信发证机构名单不一致或已吊销"
            public, note = offered, f"发证密钥与节点{first.node_name or first.node_id}的可信发证机构名单一致"
        else:
            public, note = offered, f"发证密钥由节点{er.provider_node}签名的消息提供（本节点尚未同步其可信发证机构名单）"
    try:
        signature = bytes.fromhex(str(p.get("signature", "")))
    except ValueError:
        return False, "签名格式不正确"
    if not signing.verify(head.get("a", ""), public, canonical.head_bytes(head), signature):
        return False, "证照签名核验未通过"
    return True, note


def receive_release(msg):
    from tongban.cases.models import Case, CaseMaterial
    from tongban.cases.models import Status as S
    from tongban.catalog.models import Material
    from tongban.certificates.models import Certificate
    from tongban.core.models import StoredBlob

    p = msg.payload
    er = EvidenceRequest.objects.select_for_update().filter(uid=p.get("uid"), side=EvidenceRequest.CONSUMER).first()
    if er is None or er.status != EvidenceRequest.REQUESTED:
        return
    consent = Consent.objects.filter(pk=er.consent.get("id")).select_related("applicant__user").first()
    case = Case.objects.select_for_update(of=("self",)).filter(uid=er.case_uid).select_related("department").first()
    ok, note = _check_release(p, er)
    blob = StoredBlob.objects.filter(sha256=p.get("pdf")).first()
    if ok and blob is None:
        ok, note = False, "版式文件未随消息到达"
    if ok and (case is None or case.status not in (S.DRAFT, S.SUPPLEMENT)):
        ok, note = False, "办件已不能再添加材料"
    material = Material.objects.filter(pk=er.consent.get("material_id")).first()
    if ok and material is None:
        ok, note = False, "申请材料已不存在"
    er.answered_at = timezone.now()
    log = {"holder_code": er.holder_code, "actor": consent.applicant.user if consent else None, "actor_department": er.consumer_department_name,
           "actor_node": msg.sender, "identifier": er.identifier, "service_code": er.service_code, "case": case,
           "purpose": er.purpose, "consent_ref": consent.pk if consent else ""}
    if not ok:
        er.status, er.reason = EvidenceRequest.FAILED, note[:300]
        er.save(update_fields=["status", "reason", "answered_at"])
        access_log.record("use", outcome=AccessLog.REFUSED, reason=note, **log)
        return
    rnd = 1 if case.status == S.DRAFT else 1 + case.supplements.count()
    cm = CaseMaterial.objects.create(case=case, material=material, name=material.name, blob=blob, file_name=str(p.get("file_name", "证照.pdf"))[:255],
                                     round=rnd, how="reuse", origin=f"{msg.sender}:{er.uid}"[:60])
    head = p["head"]
    UsedEvidence.objects.create(
        case=case, use=UsedEvidence.MATERIAL, consent=consent, case_material=cm,
        certificate=Certificate.objects.filter(identifier=er.identifier).first(), identifier=er.identifier, service_code=er.service_code,
        verification={"status": "valid", "label": "有效", "key_id": head.get("k", ""), "algorithm": head.get("a", ""),
                      "at": timezone.now().isoformat(timespec="seconds"), "note": note, "node": msg.sender})
    er.status, er.reason, er.payload = EvidenceRequest.RELEASED, note[:300], {"head": head, "data": p.get("data") or {}}
    er.save(update_fields=["status", "reason", "payload", "answered_at"])
    access_log.record("use", outcome=AccessLog.GRANTED, reason=f"跨节点提供；{note}", **log)


def receive_refusal(msg):
    p = msg.payload
    er = EvidenceRequest.objects.select_for_update().filter(uid=p.get("uid"), side=EvidenceRequest.CONSUMER).first()
    if er is None or er.status != EvidenceRequest.REQUESTED:
        return
    er.status, er.reason, er.answered_at = EvidenceRequest.REFUSED, str(p.get("reason", ""))[:300], timezone.now()
    er.save(update_fields=["status", "reason", "answered_at"])
    consent = Consent.objects.filter(pk=er.consent.get("id")).select_related("applicant__user").first()
    from tongban.cases.models import Case

    access_log.record("use", holder_code=er.holder_code, outcome=AccessLog.REFUSED, actor=consent.applicant.user if consent else None,
                      actor_department=er.consumer_department_name, actor_node=msg.sender, identifier=er.identifier, service_code=er.service_code,
                      case=Case.objects.filter(uid=er.case_uid).first(), purpose=er.purpose, consent_ref=consent.pk if consent else "",
                      reason=f"提供方拒绝：{er.reason}")


def _atomic(fn):
    def run(msg):
        with transaction.atomic():
            fn(msg)
    return run


def register():
    exchange.register_handler(REQUEST, _atomic(receive_request))
    exchange.register_handler(RELEASE, _atomic(receive_release))
    exchange.register_handler(REFUSAL, _atomic(receive_refusal))


def pending(case):
    return EvidenceRequest.objects.filter(side=EvidenceRequest.CONSUMER, case_uid=case.uid).order_by("-id")

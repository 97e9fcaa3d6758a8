"""Public certificate API under /api/v1/certificates/: 验真 (by identifier or QR payload), the signed
trusted-issuer list, the verifier's view of a presentation (亮证), and the signed-in holder's own
certificates and presentations. Staff endpoints live under /staff/ (api_staff.py)."""

import datetime

from django.conf import settings
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from tongban.applicants.api import applicant_auth
from tongban.core.idempotency import idempotent

from . import presenting, qr, trust, verifying

router = Router(tags=["电子证照（公开）"])


class FieldOut(Schema):
    label: str
    value: str


class VerdictOut(Schema):
    status: str = Field(description="valid 有效 / revoked 已吊销 / cancelled 已注销 / superseded 已变更 / expired 已过期 / forged 疑似伪造 / "
                                    "unknown 未查到 / untrusted_key 签名密钥不可信")
    label: str
    message: str
    identifier: str = Field(description="被查验的证照标识（已知时）")
    newer_identifier: str = Field(description="已变更时：现行版本的证照标识")
    fields: list[FieldOut] = Field(description="可公开的照面信息（姓名、证件号码已部分隐藏）；其他平台节点签发的证照另含“发证节点”")


class VerifyIn(Schema):
    model_config = {"extra": "forbid"}  # a misspelt field name is an error, not an empty query

    identifier: str = Field("", max_length=200, description="证照标识 1.2.156.3005.2.……")
    qr: str = Field("", max_length=qr.MAX_TEXT + 200, description="二维码内容（TBC1.…… 或验真网址）")


class TrustKeyOut(Schema):
    key_id: str
    algorithm: str
    public_key: str
    status: str = Field(description="active 在用 / retired 已轮换（仍可验签）")
    valid_from: str
    valid_until: str


class TrustIssuerOut(Schema):
    department: str
    credit_code: str
    region: str
    keys: list[TrustKeyOut]


class TrustNodeOut(Schema):
    id: str
    name: str
    key_id: str
    algorithm: str
    public_key: str


class RevokedKeyOut(Schema):
    key_id: str
    algorithm: str
    credit_code: str
    department: str
    revoked_at: str


class TrustDocumentOut(Schema):
    version: int
    issued_at: str
    node: TrustNodeOut
    issuers: list[TrustIssuerOut]
    revoked_keys: list[RevokedKeyOut]


class TrustListOut(Schema):
    document: TrustDocumentOut
    signature: str = Field(description="节点私钥对 document 的规范化JSON（键排序、无空格、UTF-8）的签名，十六进制")
    key_id: str
    algorithm: str


class PresentationOut(Schema):
    verdict: VerdictOut = Field(description="证照的实时查验结果（fields 为空：展示的信息见 shown）")
    shown: list[FieldOut] = Field(description="持证人选择展示的信息")
    expires_at: datetime.datetime
    views: int


class MyCertificateOut(Schema):
    id: int
    identifier: str
    type_code: str
    type_name: str
    number: str
    version: int
    status: str = Field(description="valid / superseded / revoked / cancelled / expired")
    status_label: str
    issuer_name: str
    issued_on: datetime.date
    valid_from: datetime.date
    valid_until: datetime.date | None = Field(description="空表示长期有效")
    holder_name: str
    holder_code: str = Field(description="持证主体代码（已脱敏）")
    data: dict[str, str] = Field(description="照面信息（信息项名称 → 值）")
    verify_url: str = Field(description="验真二维码内容")


class PresentIn(Schema):
    model_config = {"extra": "forbid"}

    fields: list[str] = Field(default_factory=list, max_length=50, description="展示的信息项：number、holder_code 及证照类型的信息项")


class PresentationCreated(Schema):
    token: str
    url: str = Field(description="查验人打开（或扫码）的网址")
    expires_at: datetime.datetime
    fields: list[str]


class Detail(Schema):
    detail: str


def _verdict_out(verdict, with_fields=True):
    out = verdict.as_dict()
    if not with_fields:
        out["fields"] = []
    return out


CROSS_NODE = ("其他平台节点签发的证照：按该节点已验证签名的可信发证机构名单核验二维码签名，再向发证节点查询当前状态；发证节点暂时无法连接时"
              "只给出签名层面的结果并注明。请求头 X-Tongban-Node（平台节点之间查询时使用）表示只按本节点记录答复、不再转问其他节点。")


@router.get("/verify", response={200: VerdictOut, 422: Detail, 429: Detail}, summary="电子证照验真（按证照标识或二维码内容，无需登录）",
            description=CROSS_NODE)
def verify_get(request, identifier: str = "", qr: str = ""):
    return _verdict_out(verifying.public_verify(identifier=identifier, qr_text=qr, request_meta=request.META))


@router.post("/verify", response={200: VerdictOut, 422: Detail, 429: Detail}, summary="电子证照验真（JSON：identifier 或 qr）",
             description=CROSS_NODE)
def verify_post(request, payload: VerifyIn):
    return _verdict_out(verifying.public_verify(identifier=payload.identifier, qr_text=payload.qr, request_meta=request.META))


@router.get("/trust-list", response=TrustListOut, summary="可信发证机构名单（节点签名，用于离线核验证照二维码）")
def trust_list(request):
    return trust.trust_list()


@router.get("/presentations/{token}", response={200: PresentationOut, 404: Detail, 410: Detail, 429: Detail},
            summary="亮证查验：持证人出示的信息和证照实时状态（亮证码过期为410）")
def presentation(request, token: str):
    verifying.throttle(request.META)
    p, verdict = presenting.open_presentation(token, request_meta=request.META)
    return {"verdict": _verdict_out(verdict, with_fields=False), "shown": [{"label": k, "value": v} for k, v in presenting.shown(p)],
            "expires_at": p.expires_at, "views": p.views}


def _mine_out(cert):
    status, label = presenting.wallet_status(cert)
    return {
        "id": cert.pk, "identifier": cert.identifier, "type_code": cert.type.code, "type_name": cert.type.name, "number": cert.number,
        "version": cert.version, "status": status, "status_label": label, "issuer_name": cert.issuer_name, "issued_on": cert.issued_on,
        "valid_from": cert.valid_from, "valid_until": cert.valid_until, "holder_name": cert.holder_name, "holder_code": cert.masked_holder_code,
        "data": {label: value for _, label, value in presenting.face_items(cert)}, "verify_url": qr.qr_text(cert),
    }


@router.get("/mine", auth=applicant_auth, response=list[MyCertificateOut], summary="我的证照（申请人本人或本单位名下，含已变更的历史版本）")
def mine(request):
    qs = presenting.wallet(request.applicant).select_related("type").order_by("-issued_on", "-id")[:500]
    return [_mine_out(c) for c in qs]


@router.post("/mine/{int:certificate_id}/presentations", auth=applicant_auth, response={201: PresentationCreated, 404: Detail, 409: Detail, 422: Detail},
             summary="亮证：生成限时亮证码（幂等：可带 Idempotency-Key）")
@idempotent
def create_presentation(request, certificate_id: int, payload: PresentIn):
    cert = presenting.held(request.applicant, certificate_id)
    p = presenting.present(request.applicant, cert, payload.fields)
    url = settings.TONGBAN_PUBLIC_URL + reverse("verify:presentation", args=[p.token])
    return Status(201, {"token": p.token, "url": url, "expires_at": p.expires_at, "fields": p.fields})


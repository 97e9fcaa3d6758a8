"""验真: is this certificate genuine, unaltered and currently valid?

Three ways in, one assessment: by identifier (typed or read from the face), by the signed QR payload
(the head the issuer signed travels in the code), or by the record itself (once-only use checks a
certificate before attaching it to an application). The signature is checked against the issuing
department's registered key before the status is read, so a record changed in the database is as
forged as a QR code with one byte changed. Every verification is written to the hash-chained access
log (用证日志) so that the holder can see who checked their certificate.

A certificate issued on another platform node (its key is not ours) is checked against that node's
verified trust list (`peers.py`) and its current status asked of that node; an identifier not found
here is answered by the node whose list names its issuer. A request from another node is answered
from local records only, so that nodes never ask each other in a loop.
"""

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from tongban.core import ratelimit
from tongban.core.codes import CodeError, validate_id_number, validate_uscc
from tongban.core.errors import DomainError
from tongban.core.masking import mask_id_number
from tongban.exchange.signing import verify as verify_signature

from . import canonical, identifiers, qr
from .models import Certificate, CertificateEvent, IssuerKey, Status

VALID, REVOKED, CANCELLED, SUPERSEDED = "valid", "revoked", "cancelled", "superseded"
EXPIRED, FORGED, UNKNOWN, UNTRUSTED_KEY = "expired", "forged", "unknown", "untrusted_key"
LABELS = {
    VALID: "有效", REVOKED: "已吊销", CANCELLED: "已注销", SUPERSEDED: "已变更", EXPIRED: "已过期",
    FORGED: "疑似伪造", UNKNOWN: "未查到", UNTRUSTED_KEY: "签名密钥不可信",
}
BAD_IDENTIFIER = "证照标识格式或校验位不正确"
NOT_FOUND = "未查到该证照，可能是伪造的"
TAMPERED = "证照内容与签名不符，疑似伪造或被篡改"
TOO_OFTEN = "查验过于频繁，请稍后再试"
PUBLIC_ACTOR = "公众查验"
CREDIT_CODE_TYPE = "统一社会信用代码"
_KEY_ID = re.compile(r"[A-Za-z0-9._:-]{1,60}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Verdict:
    status: str
    label: str
    message: str
    certificate: Certificate | None = None
    head: dict = field(default_factory=dict)
    fields: list = field(default_factory=list)  # [(label, value)] safe to show anyone
    newer: str = ""  # identifier of the current version when this one was superseded

    @property
    def ok(self):
        return self.status == VALID

    def as_dict(self):
        """The JSON answer of the API (no certificate object, no unmasked personal data)."""
        return {
            "status": self.status, "label": self.label, "message": self.message,
            "identifier": self.head.get("id", "") if self.head else (self.certificate.identifier if self.certificate else ""),
            "newer_identifier": self.newer, "fields": [{"label": k, "value": v} for k, v in self.fields],
        }


def _verdict(status, message, certificate=None, head=None, newer=""):
    head = head or {}
    # What a forged code or an untrusted key claims is not repeated back: it could read like a genuine face.
    shown = public_fields(head, certificate) if head and status not in (FORGED, UNTRUSTED_KEY) else []
    return Verdict(status, LABELS[status], message, certificate, head, shown, newer)


# --- what may be shown to anyone -------------------------------------------------------------------

def mask_name(name):
    """张*明: a person's name partly hidden (an organisation's name is public and shown whole)."""
    name = name or ""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _is_person(head, certificate):
    """Whether the holder is a natural person (their name is masked). The record says so; a head
    alone (a QR code of a certificate not found here) is judged by the code: a valid ID number that is
    not also a valid credit code. When unsure, mask (the safe side)."""
    if certificate is not None:
        return certificate.holder_code_type != CREDIT_CODE_TYPE
    code = str(head.get("hc", ""))
    try:
        validate_uscc(code)
    except CodeError:
        return True
    try:
        validate_id_number(code)
    except CodeError:
        return False
    return True


def public_fields(head, certificate=None):
    """(label, value) pairs from the signed head: what a public verifier may read."""
    code = head.get("hc", "")
    holder = head.get("h", "")
    rows = [
        ("证照名称", head.get("tn", "")),
        ("证照编号", head.get("n", "")),
        ("持证主体", mask_name(holder) if _is_person(head, certificate) else holder),
        ("持证主体代码", mask_id_number(code)),
        ("发证机构", head.get("in", "")),
        ("颁发日期", head.get("d", "")),
        ("有效期", f"{head.get('f', '')} 至 {head.get('u') or '长期'}"),
        ("证照标识", head.get("id", "")),
    ]
    if certificate is not None and certificate.version > 1:
        rows.append(("版本", f"第{certificate.version}版"))
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


# --- the assessment -------------------------------------------------------------------------------

def _key(key_id):
    from . import keys

    # Only a well-formed id reaches the database (a NUL from a crafted QR code would upset PostgreSQL).
    return keys.public_key(key_id) if isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) else None


def _check_key(key, algorithm, issuer_code):
    """None when `key` may vouch for a certificate of `issuer_code`, else the untrusted-key verdict text."""
    if key is None:
        return "签名密钥未在本平台登记，无法确认签发机构，请向发证机构核实"
    if key.status == IssuerKey.REVOKED:
        when = timezone.localtime(key.revoked_at).date().isoformat() if key.revoked_at else ""
        return f"签名密钥已于{when}吊销，其签发的证照不再可信，请向发证机构核实"
    if key.department.credit_code != issuer_code:
        return "签名密钥不属于证照上的发证机构，不能证明该证照由其签发"
    if key.algorithm != algorithm:
        return "签名算法与发证机构的密钥不一致"
    return None


def _newest(certificate):
    """The current version at the end of the chain of changes."""
    current, seen = certificate, set()
    while current.pk not in seen:
        seen.add(current.pk)
        following = Certificate.objects.filter(supersedes=current).first()
        if following is None:
            break
        current = following
    return current


def _status_of(certificate, head):
    c = certificate
    changed = timezone.localtime(c.status_changed_at).date().isoformat() if c.status_changed_at else ""
    reason = f"，原因：{c.status_reason}" if c.status_reason else ""
    if c.status == Status.REVOKED:
        return _verdict(REVOKED, f"该证照已于{changed}被发证机构吊销{reason}，不能作为办事依据", c, head)
    if c.status == Status.CANCELLED:
        return _verdict(CANCELLED, f"该证照已于{changed}注销{reason}，不能作为办事依据", c, head)
    if c.status == Status.SUPERSEDED:
        newest = _newest(c)
        return _verdict(SUPERSEDED, f"该证照已于{changed}变更，请以现行版本为准：{newest.identifier}", c, head, newer=newest.identifier)
    # The status is not part of the signed head; the append-only history is the second witness. A
    # "valid" row whose history says it was revoked, cancelled or replaced was edited behind the service.
    ended = (CertificateEvent.REVOKE, CertificateEvent.CANCEL, CertificateEvent.SUPERSEDE)
    if CertificateEvent.objects.filter(certificate=c, action__in=ended).exists() or Certificate.objects.filter(supersedes=c).exists():
        return _verdict(FORGED, "证照状态与发证机构的变更记录不一致，疑似被篡改，请向发证机构核实", c, head)
    if c.valid_until is not None and c.valid_until < timezone.localdate():
        return _verdict(EXPIRED, f"该证照有效期已于{c.valid_until.isoformat()}届满", c, head)
    return _verdict(VALID, f"该证照由{c.issuer_name}签发，签名验证通过，内容未被篡改，当前有效", c, head)


def assess(certificate) -> Verdict:
    """The verdict of a stored certificate without logging it (callers that answer someone log)."""
    c = certificate
    head = canonical.head(c)
    key = _key(c.key_id)
    problem = _check_key(key, c.algorithm, c.issuer_code)
    if problem:
        return _verdict(UNTRUSTED_KEY, problem, c, head)
    try:
        signature = bytes.fromhex(c.signature)
    except (TypeError, ValueError):
        signature = b""
    if not verify_signature(key.algorithm, key.public_key, canonical.head_bytes(head), signature):
        return _verdict(FORGED, TAMPERED, c, head)
    return _status_of(c, head)


def _find(identifier):
    return Certificate.objects.select_related("type", "issuer").filter(identifier=identifier).first()


def _assess_identifier(identifier, ask_peers=False):
    try:
        parts = identifiers.parse(identifier)
    except identifiers.IdentifierError as exc:
        return _verdict(FORGED, f"{BAD_IDENTIFIER}：{exc}")
    certificate = _find(identifiers.normalize(identifier))
    if certificate is None:
        if ask_peers:
            return _peer_identifier(identifiers.normalize(identifier), parts["issuer_code"])
        return _verdict(UNKNOWN, NOT_FOUND)
    return assess(certificate)


# --- certificates issued on another platform node -----------------------------------------------------

UNCONFIRMED_LABEL = "签名有效（未能确认状态）"


def _answered_by(peer):
    return [("发证节点", peer.node_name or peer.node_id), ("发证机构", peer.department)]


MAX_PEERS_ASKED = 3


def _ask(candidates, identifier):
    """(peer, answer) of the first candidate node that knows the certificate; else the last that
    answered (it does not know it), or (first candidate, None) when none could be reached."""
    from . import peers

    answered = None
    for peer in candidates[:MAX_PEERS_ASKED]:
        try:
            answer = peers.remote_status(peer, identifier)
        except peers.PeerError:
            continue
        if answer["status"] != UNKNOWN:
            return peer, answer
        answered = (peer, answer)
    return answered or (candidates[0], None)


def _peer_identifier(identifier, issuer_code):
    """An identifier not found here: the node whose trust list names its issuer answers for it."""
    from . import peers

    candidates = peers.find_issuers(issuer_code)
    if not candidates:
        return _verdict(UNKNOWN, NOT_FOUND)
    head = {"id": identifier}
    peer, answer = _ask(candidates, identifier)
    if answer is None:
        message = (f"该证照的发证机构{peer.department}由{peer.node_name}登记；暂时无法连接发证节点查询，请稍后再查"
                   "（也可扫描证照上的二维码核验签名）")
        return Verdict(UNKNOWN, LABELS[UNKNOWN], message, None, head, _answered_by(peer))
    status = answer["status"]
    message = f"由发证节点{peer.node_name}答复：{answer['message'] or LABELS[status]}"
    fields = [(k, v) for k, v in answer["fields"] if k != "发证节点"] + [("发证节点", peer.node_name or peer.node_id)]
    if status in (FORGED, UNTRUSTED_KEY):
        fields = [("发证节点", peer.node_name or peer.node_id)]
    return Verdict(status, LABELS[status], message, None, head, fields, answer["newer_identifier"])


def _peer_qr(head, head_bytes, signature):
    """A QR code signed by a key this node does not hold: check the signature against the issuing
    node's verified trust list, then ask that node for the current status."""
    from . import peers

    candidates = peers.find_keys(head.get("k"))
    if not candidates:
        return None
    peer = candidates[0]
    if peer.revoked:
        when = clean_date(peer.key.get("revoked_at"))
        return _verdict(UNTRUSTED_KEY, f"签名密钥已于{when}由{peer.node_name}吊销，其签发的证照不再可信，请向发证机构核实", head=head)
    if peer.credit_code != head.get("i"):
        return _verdict(UNTRUSTED_KEY, "签名密钥不属于证照上的发证机构，不能证明该证照由其签发", head=head)
    if peer.key.get("algorithm") != head.get("a"):
        return _verdict(UNTRUSTED_KEY, "签名算法与发证机构的密钥不一致", head=head)
    if not verify_signature(peer.key.get("algorithm"), str(peer.key.get("public_key", "")), head_bytes, signature):
        return _verdict(FORGED, "二维码内容与签名不符，疑似伪造或被篡改", head=head)
    issued, retired = clean_date(head.get("d")), clean_date(peer.key.get("valid_until"))
    if peer.key.get("status") == "retired" and issued and retired and issued > retired:
        return _verdict(UNTRUSTED_KEY, "签名密钥轮换之后不应再签发证照，请向发证机构核实", head=head)
    # Only listings of the same key and issuer may answer for the status.
    same = [c for c in candidates if c.credit_code == peer.credit_code and c.key.get("public_key") == peer.key.get("public_key")]
    peer, answer = _ask(same, head["id"])
    origin = f"签名有效，由{peer.node_name}的{peer.department}签发"
    if answer is None:
        until = clean_date(head.get("u"))
        if until and until < timezone.localdate().isoformat():
            verdict = _verdict(EXPIRED, f"{origin}，但有效期已于{until}届满", head=head)
        else:
            # Not "valid": a client reading only the status must not take a possibly revoked certificate as good.
            verdict = _verdict(UNKNOWN, f"{origin}；暂时无法连接发证节点确认是否吊销，请稍后再查", head=head)
            verdict.label = UNCONFIRMED_LABEL
        verdict.fields += _answered_by(peer) + [("状态确认", "未能连接发证节点，是否吊销尚未确认")]
        return verdict
    status, said = answer["status"], answer["message"]
    if status == VALID:
        verdict = _verdict(VALID, f"{origin}，内容未被篡改；发证节点确认当前有效", head=head)
    elif status == UNKNOWN:
        verdict = _verdict(UNKNOWN, f"{origin}，但发证节点未查到该证照记录，请向发证机构核实", head=head)
    else:
        verdict = _verdict(status, f"{origin}；发证节点答复：{said or LABELS[status]}", head=head, newer=answer["newer_identifier"])
    if status not in (FORGED, UNTRUSTED_KEY):
        verdict.fields += _answered_by(peer)
    return verdict


def clean_date(value):
    """YYYY-MM-DD from an ISO date or time in a peer's list or a head, else ""."""
    text = value[:10] if isinstance(value, str) else ""
    return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else ""


def qr_payload(text):
    """The TBC1 payload from what a scanner read: the payload itself or the verification URL around it."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if text.startswith(("http://", "https://")) and len(text) <= qr.MAX_TEXT + 200:
        values = parse_qs(urlsplit(text).query).get("c")
        return values[0] if values else text
    if text.startswith("c="):
        return unquote(text[2:])
    return text


def _assess_qr(text, ask_peers=False):
    try:
        head, head_bytes, signature = qr.decode(qr_payload(text))
    except qr.QRError as exc:
        return _verdict(FORGED, str(exc))
    head = {k: v for k, v in head.items() if isinstance(k, str)}
    key = _key(head.get("k"))
    if key is None and ask_peers:
        verdict = _peer_qr(head, head_bytes, signature)
        if verdict is not None:
            return verdict
    problem = _check_key(key, head.get("a"), head.get("i"))
    if problem:
        return _verdict(UNTRUSTED_KEY, problem, head=head)
    if not verify_signature(key.algorithm, key.public_key, head_bytes, signature):
        return _verdict(FORGED, "二维码内容与签名不符，疑似伪造或被篡改", head=head)
    certificate = _find(head["id"])
    if certificate is None:
        return _verdict(UNKNOWN, "二维码签名有效，但本平台未查到该证照记录，请向发证机构核实", head=head)
    if canonical.head(certificate) != head:
        return _verdict(FORGED, "二维码内容与发证机构登记的证照信息不一致，疑似伪造或被篡改", certificate, head)
    if certificate.key_id == key.key_id and certificate.signature.lower() == signature.hex():
        return _status_of(certificate, head)  # the record's own signature is the one just verified
    return assess(certificate)


# --- logging and the public entry points ------------------------------------------------------------

def client_ip(request_meta):
    """The client address from a request's META (the hall's gateway sets REMOTE_ADDR)."""
    if not request_meta:
        return ""
    return str(request_meta.get("REMOTE_ADDR", "") or "")[:64]


def _ip_tag(ip):
    # The log keeps a keyed hash, not the address: repeated checks from one place can be told apart
    # without storing who the verifier is.
    return hashlib.sha256(f"{settings.SECRET_KEY}|{ip}".encode()).hexdigest()[:12] if ip else ""


def _storable(value, length):
    """A head value fit for the log: a decoded QR code may carry NUL or lone surrogates (JSON escapes),
    which PostgreSQL refuses."""
    text = value if isinstance(value, str) else ""
    return _CONTROL.sub("", text.encode("utf-8", "ignore").decode("utf-8"))[:length]


def log(verdict, *, action="verify", actor=None, actor_name="", actor_node="", case=None, purpose="", request_meta=None, note=""):
    from tongban.sharing import access_log
    from tongban.sharing.models import AccessLog

    c, head = verdict.certificate, verdict.head or {}
    tag = _ip_tag(client_ip(request_meta))
    reason = f"查验结果：{verdict.label}" + (f"；{note}" if note else "") + (f"；来源#{tag}" if tag else "")
    return access_log.record(
        action, holder_code=(c.holder_code if c else _storable(head.get("hc"), 18)), outcome=AccessLog.GRANTED,
        actor=actor, actor_node=actor_node, actor_name=actor_name or ("" if getattr(actor, "is_authenticated", False) else PUBLIC_ACTOR),
        identifier=(c.identifier if c else _storable(head.get("id"), 120)), region_path=c.region_path if c else "",
        case=case, purpose=purpose, reason=reason,
    )


def _peer_context(request_meta):
    """(ask other nodes?, log kwargs). A request from another node (it names itself in a header) is
    answered from the local records only — it must not ask back, or two nodes could ask each other in
    a loop — and the log names that node as the verifier."""
    from . import peers

    if not request_meta or not request_meta.get("HTTP_" + peers.PEER_HEADER.upper().replace("-", "_")):
        return True, {}
    node = peers.asking_node(request_meta)
    if node is None:
        return False, {"note": "来自未登记节点的跨节点查验"}
    return False, {"actor_node": node.node_id, "actor_name": f"{node.name}（跨节点查验）"}


def _note(verdict, extra):
    names = dict(verdict.fields).get("发证节点") if verdict.certificate is None else None
    return "；".join(x for x in (f"由发证节点{names}答复" if names else "", extra) if x)


def verify_identifier(identifier, *, request_meta=None, actor=None) -> Verdict:
    ask_peers, extra = _peer_context(request_meta)
    verdict = _assess_identifier(identifier, ask_peers=ask_peers)
    log(verdict, actor=actor, request_meta=request_meta, purpose="按证照标识验真", actor_node=extra.get("actor_node", ""),
        actor_name=extra.get("actor_name", ""), note=_note(verdict, extra.get("note", "")))
    return verdict


def verify_qr(text, *, request_meta=None, actor=None) -> Verdict:
    ask_peers, extra = _peer_context(request_meta)
    verdict = _assess_qr(text, ask_peers=ask_peers)
    log(verdict, actor=actor, request_meta=request_meta, purpose="扫码验真", actor_node=extra.get("actor_node", ""),
        actor_name=extra.get("actor_name", ""), note=_note(verdict, extra.get("note", "")))
    return verdict


def verify_certificate(certificate, *, actor=None, case=None, purpose="") -> Verdict:
    """For once-only use: a certificate about to be attached to an application, checked and logged.
    The row is read again: the caller's copy may predate a revocation."""
    current = Certificate.objects.select_related("type", "issuer").filter(pk=certificate.pk).first()
    verdict = assess(current) if current is not None else _verdict(UNKNOWN, NOT_FOUND)
    log(verdict, actor=actor, case=case, purpose=purpose or "用证前核验")
    return verdict


# --- rate limit of the public pages and API ---------------------------------------------------------

def per_hour():
    return int(getattr(settings, "TONGBAN_VERIFY_PER_HOUR", 600))


def throttle(request_meta):
    """Count one public verification for this client; 429 over the hourly limit. The first refusal of
    each window is written to the access log (not every one: a flood must not flood the chain)."""
    ip = client_ip(request_meta)
    key = f"cert-verify:{ip}"
    try:
        ratelimit.check(key, per_hour(), TOO_OFTEN)
    except DomainError:
        if cache.add(f"{key}:logged", 1, ratelimit.HOUR):
            from tongban.sharing import access_log
            from tongban.sharing.models import AccessLog

            tag = _ip_tag(ip)
            access_log.record("verify", holder_code="", outcome=AccessLog.REFUSED, actor_name=PUBLIC_ACTOR,
                              reason=f"{TOO_OFTEN}（每小时上限{per_hour()}次）" + (f"；来源#{tag}" if tag else ""))
        raise
    ratelimit.count(key)


def public_verify(*, identifier="", qr_text="", request_meta=None) -> Verdict:
    """What the public page and the API do: limit, then verify the QR payload or else the identifier."""
    identifier = (identifier or "").strip() if isinstance(identifier, str) else ""
    qr_text = (qr_text or "").strip() if isinstance(qr_text, str) else ""
    if not identifier and not qr_text:
        raise DomainError("请输入证照标识，或扫描证照上的二维码", status=422)
    if len(identifier) > 200 or len(qr_text) > qr.MAX_TEXT + 200:
        raise DomainError("输入内容过长，不是有效的证照标识或证照二维码", status=422)
    throttle(request_meta)
    if qr_text:
        return verify_qr(qr_text, request_meta=request_meta)
    return verify_identifier(identifier, request_meta=request_meta)


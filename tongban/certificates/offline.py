"""Offline verification of a certificate's QR code against the signed list of trusted issuers.

Runs on a verifier's laptop with no database and no Django: only the standard library, `gmssl_pyx`
(SM2/SM3) and `cryptography` (Ed25519). The file can be copied alone. It mirrors two definitions kept
elsewhere for the server — the QR text format (`qr.py`, `TBC1.<head>.<signature>`) and the SM2 digest
with the default signer id (`exchange/signing.py`) — and the tests hold them equal.

What offline verification proves: the certificate was signed by a key of an issuer on the list and not
altered since. What it cannot know: whether it was revoked or changed afterwards.
"""

import base64
import datetime
import json
from urllib.parse import parse_qs, unquote, urlsplit

PREFIX = "TBC1"
MAX_TEXT = 2000
VALID, FORGED, UNTRUSTED_KEY, EXPIRED = "valid", "forged", "untrusted_key", "expired"
LABELS = {VALID: "签名有效", FORGED: "疑似伪造", UNTRUSTED_KEY: "签名密钥不可信", EXPIRED: "已过期"}
OFFLINE_NOTE = "离线核验只能证明证照由可信机构签发且未被篡改；是否吊销请联网查验"
PUBLIC_KEY_BYTES = {"sm2": 64, "ed25519": 32}

# SM2 curve parameters (GB/T 32918.5) for Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA).
_SM2_CURVE = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


class TrustListError(ValueError):
    """The trusted-issuer list is malformed or its signature does not verify (message in Chinese)."""


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_signature(algorithm, public_key_hex, data: bytes, signature: bytes) -> bool:
    """True only for a valid signature; never raises."""
    try:
        public = bytes.fromhex(public_key_hex)
        if len(public) != PUBLIC_KEY_BYTES.get(algorithm, -1) or not signature:
            return False
        if algorithm == "sm2":
            import gmssl_pyx

            if len(signature) > 80:
                return False
            uid = gmssl_pyx.SM2_DEFAULT_SIGNER_ID
            z = gmssl_pyx.sm3_hash((len(uid) * 8).to_bytes(2, "big") + uid + _SM2_CURVE + public)
            e = gmssl_pyx.sm3_hash(z + data)
            try:  # the system OpenSSL (no Django needed) verifies about twice as fast as gmssl_pyx
                from tongban.exchange import sm2_openssl

                if sm2_openssl.available():
                    return sm2_openssl.verify_digest(public, e, signature)
            except Exception:  # not importable or unusable here: gmssl_pyx below
                pass
            return bool(gmssl_pyx.sm2_verify_sm3_digest(public, e, signature))
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
        return True
    except Exception:  # a bad key, a bad signature, garbage: all mean "not valid"
        return False


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode(text):
    """(head, head bytes, signature) of a QR payload or of the verification URL carrying it; ValueError
    with a Chinese message otherwise."""
    text = text.strip() if isinstance(text, str) else ""
    if text.startswith(("http://", "https://")):
        text = (parse_qs(urlsplit(text).query).get("c") or [""])[0]
    elif text.startswith("c="):
        text = unquote(text[2:])
    if not text or len(text) > MAX_TEXT:
        raise ValueError("二维码内容为空或过长，不是电子证照二维码")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise ValueError("二维码不是电子证照二维码")
    try:
        head_bytes, signature = _unb64(parts[1]), _unb64(parts[2])
        head = json.loads(head_bytes.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("二维码内容已损坏，无法识别") from None
    if not isinstance(head, dict) or not isinstance(head.get("id"), str) or not signature:
        raise ValueError("二维码内容不完整，无法识别")
    return head, head_bytes, signature


def verify_trust_list(signed, node_public_key) -> dict:
    """The document of a signed trust list `{"document", "signature", "algorithm", …}` once its
    signature verifies with the node's public key (obtained out of band); TrustListError otherwise."""
    if not isinstance(signed, dict) or not isinstance(signed.get("document"), dict):
        raise TrustListError("可信发证机构名单格式不正确")
    doc, algorithm = signed["document"], signed.get("algorithm")
    node_public_key = (node_public_key or "").strip().lower() if isinstance(node_public_key, str) else ""
    try:
        signature = bytes.fromhex(signed.get("signature") or "")
    except (TypeError, ValueError):
        raise TrustListError("可信发证机构名单的签名格式不正确") from None
    if not verify_signature(algorithm, node_public_key, canonical_json(doc), signature):
        raise TrustListError("可信发证机构名单的签名验证失败：名单可能被篡改，或节点公钥不正确")
    node = doc.get("node") if isinstance(doc.get("node"), dict) else {}
    if str(node.get("public_key", "")).lower() != node_public_key:
        raise TrustListError("可信发证机构名单中的节点公钥与提供的节点公钥不一致")
    if not isinstance(doc.get("issuers"), list):
        raise TrustListError("可信发证机构名单格式不正确（缺少发证机构列表）")
    return doc


def _find_key(doc, key_id):
    for issuer in doc.get("issuers") or []:
        if not isinstance(issuer, dict):
            continue
        for key in issuer.get("keys") or []:
            if isinstance(key, dict) and key.get("key_id") == key_id:
                return issuer, key
    return None, None


def _date(text):
    try:
        return datetime.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _answer(status, message, head=None, doc=None):
    return {"status": status, "label": LABELS[status], "message": message, "head": head or {},
            "trust_list_version": (doc or {}).get("version"), "trust_list_issued_at": (doc or {}).get("issued_at", "")}


def verify_offline(qr_text, trust_list_document, node_public_key=None, today=None) -> dict:
    """{status: valid|forged|untrusted_key|expired, label, message, head, trust_list_version}.

    `trust_list_document` is a verified document (from `verify_trust_list`), or the signed list itself
    together with `node_public_key` to verify it first."""
    doc = trust_list_document
    if isinstance(doc, dict) and "signature" in doc and "document" in doc:
        if not node_public_key:
            raise TrustListError("请提供节点公钥以核验可信发证机构名单的签名")
        doc = verify_trust_list(doc, node_public_key)
    if not isinstance(doc, dict) or not isinstance(doc.get("issuers"), list):
        raise TrustListError("可信发证机构名单格式不正确")
    try:
        head, head_bytes, signature = decode(qr_text)
    except ValueError as exc:
        return _answer(FORGED, str(exc), doc=doc)
    key_id = head.get("k")
    revoked = [k for k in doc.get("revoked_keys") or [] if isinstance(k, dict) and k.get("key_id") == key_id]
    if revoked:
        return _answer(UNTRUSTED_KEY, f"签名密钥已于{str(revoked[0].get('revoked_at', ''))[:10]}吊销，其签发的证照不再可信", head, doc)
    issuer, key = _find_key(doc, key_id)
    if key is None:
        return _answer(UNTRUSTED_KEY, "签名密钥不在可信发证机构名单中，无法确认签发机构", head, doc)
    if issuer.get("credit_code") != head.get("i"):
        return _answer(UNTRUSTED_KEY, "签名密钥不属于证照上的发证机构", head, doc)
    if key.get("algorithm") != head.get("a"):
        return _answer(FORGED, "签名算法与发证机构的密钥不一致", head, doc)
    if not verify_signature(key.get("algorithm"), str(key.get("public_key", "")), head_bytes, signature):
        return _answer(FORGED, "二维码内容与签名不符，疑似伪造或被篡改", head, doc)
    issued, retired = _date(head.get("d")), _date(key.get("valid_until"))
    if key.get("status") == "retired" and issued and retired and issued > retired:
        return _answer(UNTRUSTED_KEY, "签名密钥轮换之后不应再签发证照，请联网查验", head, doc)
    today = today or datetime.date.today()
    until = _date(head.get("u"))
    if until is not None and until < today:
        return _answer(EXPIRED, f"签名有效，但有效期已于{until.isoformat()}届满。{OFFLINE_NOTE}", head, doc)
    return _answer(VALID, f"签名有效：由{issuer.get('department', '')}签发，内容未被篡改。{OFFLINE_NOTE}", head, doc)


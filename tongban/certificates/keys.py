"""Issuing departments' signing keys.

Each department signs its certificates with its own key (SM2 by default, Ed25519 when
TONGBAN_CERT_SIGNING = "ed25519"), generated on first use. The private key is stored encrypted with
AES-256-GCM under a key-encryption key derived (HKDF-SHA256) from TONGBAN_CERT_KEK or, when that is
unset, from SECRET_KEY; the key id is the associated data, so a ciphertext copied onto another key's
row does not decrypt. Rotation retires the active key (it still verifies what it signed); revocation
makes everything it signed untrusted. TONGBAN_CERT_SIGNER (dotted path of a callable
`(department) -> Signer`) hands signing to a signing server or an HSM instead.
"""

import base64
import binascii
import os
import threading

import gmssl_pyx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tongban.core import audit
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.exchange.signing import ALGORITHMS, SM2, Signer, generate_key, sm2_digest

from .models import IssuerKey

_FORMAT = "v1"
_INFO = b"tongban certificate issuer key encryption"


class KeyDecryptError(DomainError):
    """A stored private key cannot be decrypted (wrong KEK, damaged row)."""


def algorithm() -> str:
    alg = str(getattr(settings, "TONGBAN_CERT_SIGNING", SM2) or SM2).lower()
    if alg not in ALGORITHMS:
        raise DomainError(f"不支持的证照签名算法：{alg}（可选 sm2、ed25519）")
    return alg


def _kek_material() -> bytes:
    raw = getattr(settings, "TONGBAN_CERT_KEK", "") or os.environ.get("TONGBAN_CERT_KEK", "")
    if not raw:
        return settings.SECRET_KEY.encode("utf-8")
    raw = raw.strip()
    try:
        return bytes.fromhex(raw)
    except ValueError:
        pass
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return raw.encode("utf-8")


def _kek() -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(_kek_material())


def encrypt_private(private_hex: str, key_id: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_kek()).encrypt(nonce, bytes.fromhex(private_hex), key_id.encode("utf-8"))
    return f"{_FORMAT}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt_private(issuer_key: IssuerKey) -> bytes:
    try:
        fmt, text = issuer_key.encrypted_private_key.split(":", 1)
        if fmt != _FORMAT:
            raise ValueError(fmt)
        blob = base64.b64decode(text)
        return AESGCM(_kek()).decrypt(blob[:12], blob[12:], issuer_key.key_id.encode("utf-8"))
    except (InvalidTag, ValueError, binascii.Error):
        raise KeyDecryptError(f"发证部门签名密钥{issuer_key.key_id}无法解密（密钥加密密钥不匹配或密钥已损坏），请联系平台管理员", status=503) from None


class DepartmentKeySigner(Signer):
    """Signs with a department's stored key (decrypted once per process and key)."""

    def __init__(self, issuer_key: IssuerKey):
        self.key_id, self.algorithm, self.public_key = issuer_key.key_id, issuer_key.algorithm, issuer_key.public_key
        self.department_id = issuer_key.department_id
        private = decrypt_private(issuer_key)
        self._public = bytes.fromhex(issuer_key.public_key)
        if self.algorithm == SM2:
            self._private = private
        else:
            self._ed = Ed25519PrivateKey.from_private_bytes(private)

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == SM2:
            return gmssl_pyx.sm2_sign_sm3_digest(self._private, sm2_digest(self._public, data))
        return self._ed.sign(data)


_signers = {}  # key_id -> DepartmentKeySigner
_lock = threading.Lock()


def _create_key(department) -> IssuerKey:
    key = generate_key(algorithm())
    return IssuerKey.objects.create(
        department=department, key_id=key["key_id"], algorithm=key["algorithm"], public_key=key["public_key"],
        encrypted_private_key=encrypt_private(key["private_key"], key["key_id"]),
    )


def active_key(department) -> IssuerKey:
    """The department's active key, generated on first use (two first uses at once: one key)."""
    key = IssuerKey.objects.filter(department=department, status=IssuerKey.ACTIVE).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            key = _create_key(department)
    except IntegrityError:  # another request generated it a moment ago (one active key per department)
        key = IssuerKey.objects.get(department=department, status=IssuerKey.ACTIVE)
    else:
        audit.record(None, "certificate_key_generate", key, f"{department.name} 生成证照签名密钥 {key.key_id}")
    return key


def local_signer(department) -> DepartmentKeySigner:
    key = active_key(department)
    signer = _signers.get(key.key_id)
    if signer is None:
        signer = DepartmentKeySigner(key)
        with _lock:
            _signers[key.key_id] = signer
    return signer


def signer_for(department) -> Signer:
    dotted = getattr(settings, "TONGBAN_CERT_SIGNER", "")
    if dotted:
        return import_string(dotted)(department)
    return local_signer(department)


def rotate(department, actor) -> IssuerKey:
    """Retire the active key (it still verifies what it signed) and make a new one active."""
    with transaction.atomic():
        old = IssuerKey.objects.select_for_update().filter(department=department, status=IssuerKey.ACTIVE).first()
        if old is not None:
            old.status, old.retired_at = IssuerKey.RETIRED, timezone.now()
            old.save(update_fields=["status", "retired_at"])
        new = _create_key(department)
        audit.record(actor, "certificate_key_rotate", new, f"{department.name} 轮换证照签名密钥：{old.key_id if old else '无'} → {new.key_id}",
                     {"old": old.key_id if old else "", "new": new.key_id})
    return new


def revoke_key(key_id, actor, reason) -> IssuerKey:
    """Mark a key compromised: certificates it signed verify as untrusted from now on."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写吊销密钥的原因", status=422)
    with transaction.atomic():
        key = IssuerKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise NotFound("未找到该签名密钥")
        if key.status == IssuerKey.REVOKED:
            raise Conflict("该签名密钥已吊销")
        key.status, key.revoked_at = IssuerKey.REVOKED, timezone.now()
        key.save(update_fields=["status", "revoked_at"])
        audit.record(actor, "certificate_key_revoke", key, f"吊销证照签名密钥 {key.key_id}：{reason[:200]}", {"reason": reason[:300]})
    with _lock:
        _signers.pop(key_id, None)
    return key


def public_key(key_id) -> IssuerKey | None:
    if not isinstance(key_id, str) or not key_id or len(key_id) > 60:
        return None
    return IssuerKey.objects.filter(key_id=key_id).select_related("department").first()


def reset_cache():
    with _lock:
        _signers.clear()

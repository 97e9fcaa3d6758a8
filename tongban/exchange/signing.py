"""Node signatures behind one interface (`Signer`), so a signing server or an HSM can replace the
local key file: set TONGBAN_NODE_SIGNER to the dotted path of a Signer subclass.

SM2 signs with SM3 digests (GB/T 32918 with the default signer id); Ed25519 through `cryptography`.
`verify` never raises: whatever arrives from the network is either a valid signature or False.
"""

import functools
import hashlib
import json
import os
import threading
from pathlib import Path

import gmssl_pyx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils.module_loading import import_string

from . import sm2_openssl
from .models import ED25519, SM2

ALGORITHMS = (SM2, ED25519)
PUBLIC_KEY_BYTES = {SM2: 64, ED25519: 32}
HASH_ALG = {SM2: "sm3", ED25519: "sha256"}


class SignerError(Exception):
    pass


class Signer:
    key_id: str
    algorithm: str
    public_key: str  # hex

    def sign(self, data: bytes) -> bytes:
        raise NotImplementedError

    @property
    def hash_alg(self):
        return HASH_ALG[self.algorithm]


def digest(hash_alg: str, data: bytes) -> str:
    if hash_alg == "sm3":
        return gmssl_pyx.sm3_hash(data).hex()
    if hash_alg == "sha256":
        return hashlib.sha256(data).hexdigest()
    raise ValueError(f"unknown hash algorithm {hash_alg!r}")


# SM2 curve parameters (GB/T 32918.5) for Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA).
_SM2_CURVE = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


@functools.lru_cache(maxsize=256)
def _sm2_z(public_key: bytes) -> bytes:
    uid = gmssl_pyx.SM2_DEFAULT_SIGNER_ID
    return gmssl_pyx.sm3_hash((len(uid) * 8).to_bytes(2, "big") + uid + _SM2_CURVE + public_key)


def sm2_digest(public_key: bytes, data: bytes) -> bytes:
    """e = SM3(Z ‖ M): what sm2_sign hashes, with Z computed once per key (sm2_sign recomputes it and
    is ten times slower)."""
    return gmssl_pyx.sm3_hash(_sm2_z(public_key) + data)


def key_id_for(algorithm, public_key_hex):
    """A fingerprint of the public key: the same key has the same id on every node."""
    return f"{algorithm}-{hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]}"


def generate_key(algorithm) -> dict:
    if algorithm == SM2:
        pub, priv = gmssl_pyx.sm2_key_generate()
        private_hex, public_hex = priv.hex(), pub.hex()
    elif algorithm == ED25519:
        key = Ed25519PrivateKey.generate()
        private_hex = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()).hex()
        public_hex = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    else:
        raise SignerError(f"不支持的签名算法：{algorithm}（可选 sm2、ed25519）")
    return {"key_id": key_id_for(algorithm, public_hex), "algorithm": algorithm, "private_key": private_hex, "public_key": public_hex}


def ensure_key_file(path=None, algorithm=None) -> dict:
    """The key in `path`, generated there first if the file does not exist (mode 0600, created
    exclusively so two processes starting at once do not overwrite each other's key)."""
    path = Path(path or settings.TONGBAN_NODE_KEY_FILE)
    if not path.exists():
        key = generate_key(algorithm or settings.TONGBAN_NODE_SIGNING)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process wrote it a moment ago: use that one
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(key, f, ensure_ascii=False, indent=2)
    return read_key_file(path)


def read_key_file(path) -> dict:
    try:
        key = json.loads(Path(path).read_text(encoding="utf-8"))
        if key["algorithm"] not in ALGORITHMS:
            raise ValueError(key["algorithm"])
        bytes.fromhex(key["private_key"])
        bytes.fromhex(key["public_key"])
        key.setdefault("key_id", key_id_for(key["algorithm"], key["public_key"]))
        return key
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignerError(f"节点密钥文件 {path} 无法读取：{exc}") from None


class LocalKeySigner(Signer):
    """The node's key pair from TONGBAN_NODE_KEY_FILE (generated on first use)."""

    def __init__(self, path=None, algorithm=None):
        key = ensure_key_file(path, algorithm)
        self.key_id, self.algorithm, self.public_key = key["key_id"], key["algorithm"], key["public_key"]
        self._private = bytes.fromhex(key["private_key"])
        self._public = bytes.fromhex(key["public_key"])
        if self.algorithm == ED25519:
            self._ed = Ed25519PrivateKey.from_private_bytes(self._private)

    def sign(self, data: bytes) -> bytes:
        if self.algorithm == SM2:
            return gmssl_pyx.sm2_sign_sm3_digest(self._private, sm2_digest(self._public, data))
        return self._ed.sign(data)


_cache = {}
_lock = threading.Lock()


def local_signer() -> Signer:
    """The node's signer, cached per key file (tests point the setting at a temporary file)."""
    dotted = getattr(settings, "TONGBAN_NODE_SIGNER", "")
    cache_key = (dotted, str(settings.TONGBAN_NODE_KEY_FILE), settings.TONGBAN_NODE_SIGNING)
    signer = _cache.get(cache_key)
    if signer is None:
        with _lock:
            signer = _cache.get(cache_key)
            if signer is None:
                signer = import_string(dotted)() if dotted else LocalKeySigner()
                _cache[cache_key] = signer
    return signer


def reset_signer():
    _cache.clear()


def valid_public_key(algorithm, public_key_hex) -> bool:
    try:
        raw = bytes.fromhex(public_key_hex)
    except (TypeError, ValueError):
        return False
    return algorithm in PUBLIC_KEY_BYTES and len(raw) == PUBLIC_KEY_BYTES[algorithm]


def sm2_backend() -> str:
    """Which library verifies SM2: "openssl" (the system libcrypto, about twice as fast) when it loaded
    and passed its probe, else "gmssl". TONGBAN_SM2_BACKEND (setting or environment) = "gmssl" forces
    gmssl_pyx; "auto" (default) picks."""
    choice = getattr(settings, "TONGBAN_SM2_BACKEND", None) or os.environ.get("TONGBAN_SM2_BACKEND", "auto")
    if str(choice).strip().lower() == "gmssl" or not sm2_openssl.available():
        return "gmssl"
    return "openssl"


def verify(algorithm, public_key_hex, data, signature) -> bool:
    try:
        if not isinstance(signature, bytes | bytearray) or not signature or not isinstance(data, bytes | bytearray):
            return False
        if not valid_public_key(algorithm, public_key_hex):
            return False
        public = bytes.fromhex(public_key_hex)
        if algorithm == SM2:
            if len(signature) > 80:  # a DER SM2 signature is at most 72 bytes
                return False
            e = sm2_digest(public, bytes(data))
            if sm2_backend() == "openssl":
                try:
                    return sm2_openssl.verify_digest(public, e, bytes(signature))
                except sm2_openssl.BackendUnavailable:
                    pass  # libcrypto cannot handle it after all: gmssl_pyx decides
            return bool(gmssl_pyx.sm2_verify_sm3_digest(public, e, bytes(signature)))
        Ed25519PublicKey.from_public_bytes(public).verify(bytes(signature), bytes(data))
        return True
    except InvalidSignature:
        return False
    except Exception:  # garbage from the network: never an exception, always "not valid"
        return False

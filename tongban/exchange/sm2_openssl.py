"""SM2 signature verification through the system OpenSSL 3 libcrypto, by ctypes.

gmssl_pyx verifies about half as fast as libcrypto on this hardware; the goal of ≥ 1,500 SM2
verifications/s needs the faster one. Only verification lives here (signing stays in gmssl_pyx):
the input is the 64-byte raw public key x‖y, the 32-byte digest e = SM3(Z‖M) computed by
`signing.sm2_digest`, and the DER signature as gmssl_pyx writes it.

Crash-proofing: every foreign function has declared argument and result types (no pointer is
truncated to a C int); lengths are checked in Python before anything reaches libcrypto; the key is
decoded from a DER SubjectPublicKeyInfo that we build ourselves, so OpenSSL's own checks (point on
the curve, strict DER signature) decide the rest. At import a probe verifies a known-good and a
known-bad gmssl_pyx signature; anything but exactly True/False disables the backend, and callers
fall back to gmssl_pyx.
"""

import collections
import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger(__name__)

MIN_OPENSSL = 0x30000000  # OpenSSL 3.0: provider SM2 keys, EVP_PKEY_is_a, EVP_PKEY_CTX_new_from_pkey
CACHE_SIZE = 256

# SubjectPublicKeyInfo { id-ecPublicKey 1.2.840.10045.2.1, curve SM2 1.2.156.10197.1.301 }, BIT STRING 04‖x‖y
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")

# A key, digest and signature written by gmssl_pyx (the probe: must verify, and must fail once changed).
_PROBE_PUBLIC = bytes.fromhex("bbf03f1941d147b3d49db133557d19383b8e9d9ea1cc164674ff324248fd5857"
                              "dbf88a241fcd8e3e67f1903b21593bb9b4c817e8912c6289a9b3e19315a2487d")
_PROBE_DIGEST = bytes.fromhex("01ba3ed8a11b4e1016afea25298b8c92536e4ae4cc34d588ca2cb4d4d198b5d0")
_PROBE_SIGNATURE = bytes.fromhex("3045022100940271d3dc8e6136a4463240c89faa93ef46aad953d3d89036527f7101fdd55e"
                                 "02200b74402c71d2d4bb6f9832b0a0546cffcd2bb4b7548886f10ff5d4c296a2fccb")


class BackendUnavailable(RuntimeError):
    pass


def _load():
    """libcrypto with the few functions we call, their types declared, or None."""
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3"]
    lib = None
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    c_void_p, c_int = ctypes.c_void_p, ctypes.c_int
    signatures = {
        "OpenSSL_version_num": ([], ctypes.c_ulong),
        "d2i_PUBKEY": ([c_void_p, ctypes.POINTER(c_void_p), ctypes.c_long], c_void_p),
        "EVP_PKEY_is_a": ([c_void_p, ctypes.c_char_p], c_int),
        "EVP_PKEY_up_ref": ([c_void_p], c_int),
        "EVP_PKEY_free": ([c_void_p], None),
        "EVP_PKEY_CTX_new_from_pkey": ([c_void_p, c_void_p, ctypes.c_char_p], c_void_p),
        "EVP_PKEY_CTX_free": ([c_void_p], None),
        "EVP_PKEY_verify_init": ([c_void_p], c_int),
        "EVP_PKEY_verify": ([c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t], c_int),
        "ERR_clear_error": ([], None),
    }
    try:
        for name, (argtypes, restype) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = argtypes, restype
    except AttributeError:  # an older libcrypto without the 3.0 functions
        return None
    if lib.OpenSSL_version_num() < MIN_OPENSSL:
        return None
    return lib


class _Keys:
    """EVP_PKEY per public key, bounded LRU. The cache holds one reference; each verification takes
    its own (EVP_PKEY_up_ref under the lock) so an eviction by another thread cannot free a key in use."""

    def __init__(self, lib, size=CACHE_SIZE):
        self.lib, self.size = lib, size
        self.items = collections.OrderedDict()
        self.lock = threading.Lock()

    def _decode(self, public: bytes):
        der = _SPKI_PREFIX + public
        buf = ctypes.create_string_buffer(der, len(der))
        cursor = ctypes.c_void_p(ctypes.addressof(buf))
        pkey = self.lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
        if not pkey:  # not a point on the curve
            self.lib.ERR_clear_error()
            return None
        if self.lib.EVP_PKEY_is_a(pkey, b"SM2") != 1:
            # this libcrypto decodes the SM2 curve as a plain EC key: ECDSA would be checked, not SM2
            self.lib.EVP_PKEY_free(pkey)
            raise BackendUnavailable("libcrypto does not decode SM2-curve keys as SM2")
        return pkey

    def acquire(self, public: bytes):
        """A referenced EVP_PKEY (release it) or None for a key that is not an SM2 point."""
        with self.lock:
            pkey = self.items.get(public)
            if pkey is not None:
                self.items.move_to_end(public)
                if self.lib.EVP_PKEY_up_ref(pkey) != 1:
                    raise BackendUnavailable("EVP_PKEY_up_ref failed")
                return pkey
        pkey = self._decode(public)
        if pkey is None:
            return None
        with self.lock:
            if public in self.items:  # another thread decoded it meanwhile: use the cached one
                self.lib.EVP_PKEY_free(pkey)
                pkey = self.items[public]
                self.items.move_to_end(public)
            else:
                self.items[public] = pkey
                while len(self.items) > self.size:
                    _, old = self.items.popitem(last=False)
                    self.lib.EVP_PKEY_free(old)
            if self.lib.EVP_PKEY_up_ref(pkey) != 1:
                raise BackendUnavailable("EVP_PKEY_up_ref failed")
            return pkey

    def after_fork(self):
        # a fork while another thread held the lock would leave the child's copy locked forever
        self.lock = threading.Lock()

    def release(self, pkey):
        self.lib.EVP_PKEY_free(pkey)

    def clear(self):
        with self.lock:
            while self.items:
                _, pkey = self.items.popitem()
                self.lib.EVP_PKEY_free(pkey)


_lib = _load()
_keys = _Keys(_lib) if _lib is not None else None
if _keys is not None and hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _keys.after_fork() if _keys is not None else None)
_available = False


def _bytes(value):
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


def _verify(public, digest, signature) -> bool:
    if _keys is None:
        raise BackendUnavailable("libcrypto (OpenSSL ≥ 3) not loaded")
    public, digest, signature = _bytes(public), _bytes(digest), _bytes(signature)
    if public is None or digest is None or signature is None:
        return False
    # A DER SEQUENCE of two INTEGERs in [1, n-1]: 8 to 72 bytes. Anything else is not a signature.
    if len(public) != 64 or len(digest) != 32 or not 8 <= len(signature) <= 72 or signature[0] != 0x30:
        return False
    lib = _lib
    pkey = _keys.acquire(public)
    if pkey is None:
        return False
    ctx = None
    try:
        ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, pkey, None)
        if not ctx or lib.EVP_PKEY_verify_init(ctx) != 1:
            lib.ERR_clear_error()
            raise BackendUnavailable("EVP_PKEY_verify_init failed for an SM2 key")
        ok = lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest))
        if ok != 1:
            lib.ERR_clear_error()  # 0: wrong signature; < 0: malformed DER; both are "not valid"
        return ok == 1
    finally:
        if ctx:
            lib.EVP_PKEY_CTX_free(ctx)
        _keys.release(pkey)


def _probe() -> bool:
    try:
        bad_digest = _PROBE_DIGEST[:-1] + bytes([_PROBE_DIGEST[-1] ^ 1])
        results = (_verify(_PROBE_PUBLIC, _PROBE_DIGEST, _PROBE_SIGNATURE), _verify(_PROBE_PUBLIC, bad_digest, _PROBE_SIGNATURE))
        return results[0] is True and results[1] is False
    except Exception as exc:  # disabled: the caller falls back to gmssl_pyx
        log.warning("OpenSSL SM2 verification disabled: %s", exc)
        return False


if _lib is not None:
    _available = _probe()


def available() -> bool:
    """True when libcrypto loaded, is OpenSSL ≥ 3 and passed the probe at import."""
    return _available


def version() -> str:
    """libcrypto's version number as text ("3.0.19"), or "" when not loaded."""
    if _lib is None:
        return ""
    n = _lib.OpenSSL_version_num()
    return f"{n >> 28 & 0xF}.{n >> 20 & 0xFF}.{n >> 4 & 0xFF}"


def verify_digest(public64, e32, der_sig) -> bool:
    """Whether `der_sig` is an SM2 signature of the digest `e32` by the raw public key `public64`.
    Malformed input gives False; raises BackendUnavailable only when the backend cannot be used."""
    if not _available:
        raise BackendUnavailable("OpenSSL SM2 backend unavailable")
    return _verify(public64, e32, der_sig)

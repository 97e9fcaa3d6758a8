"""SM2 verification through the system libcrypto (tongban/exchange/sm2_openssl.py): interop with
gmssl_pyx signatures, rejection of every kind of malformed input without a crash, agreement with the
gmssl_pyx backend, the TONGBAN_SM2_BACKEND switch and the fallback, and concurrent use from threads."""

import ctypes.util
import os
import random
import signal
import threading

import gmssl_pyx
import pytest

from tongban.exchange import signing, sm2_openssl

# SM2 curve (GB/T 32918.5): p, a, b and the group order n
P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)

needs_openssl = pytest.mark.skipif(not sm2_openssl.available(), reason="no OpenSSL ≥ 3 libcrypto with SM2")


def keypair():
    public, private = gmssl_pyx.sm2_key_generate()
    return public, private


def sign(private, public, data):
    """Signed as the project's signers do (digest e computed once, then sm2_sign_sm3_digest)."""
    return gmssl_pyx.sm2_sign_sm3_digest(private, signing.sm2_digest(public, data))


def gmssl_verify(public, e, sig):
    try:
        return bool(gmssl_pyx.sm2_verify_sm3_digest(public, e, sig))
    except Exception:
        return False


def flip(b: bytes, i: int, bit=1) -> bytes:
    return b[:i] + bytes([b[i] ^ bit]) + b[i + 1:]


def on_curve(raw: bytes) -> bool:
    x, y = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def der_int(v: int) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")  # minimal, with a 0 byte when the top bit is set
    return b"\x02" + bytes([len(body)]) + body


def der_sig(r: int, s: int) -> bytes:
    body = der_int(r) + der_int(s)
    return b"\x30" + bytes([len(body)]) + body


@pytest.fixture(scope="module")
def keys():
    return [keypair() for _ in range(4)]


def test_loaded_where_libcrypto_3_exists():
    """On a machine with libcrypto.so.3 (this one: Debian's OpenSSL 3.0) the fast backend is in use."""
    name = ctypes.util.find_library("crypto")
    if not name or not name.endswith(".so.3"):
        pytest.skip("no libcrypto.so.3 here")
    assert sm2_openssl.available()
    assert sm2_openssl.version().startswith("3.")
    assert signing.sm2_backend() == "openssl"


@needs_openssl
def test_gmssl_signature_verifies_in_openssl(keys):
    public, private = keys[0]
    data = "电子证照 签名头 {\"id\":\"1.2.156.3005.2\"}".encode()
    sig = sign(private, public, data)
    e = signing.sm2_digest(public, data)
    assert sm2_openssl.verify_digest(public, e, sig) is True
    assert sm2_openssl.verify_digest(bytearray(public), bytearray(e), bytearray(sig)) is True
    assert signing.verify("sm2", public.hex(), data, sig) is True
    # gmssl_pyx's own full sign (Z computed inside with the default signer id) is the same scheme
    full = gmssl_pyx.sm2_sign(private, public, data)
    assert sm2_openssl.verify_digest(public, e, full) is True
    assert signing.verify("sm2", public.hex(), data, full) is True


@needs_openssl
def test_changed_data_digest_or_signature_fails(keys):
    public, private = keys[0]
    data = b'{"a":"sm2","id":"x","n":"371327202600000001"}'
    sig = sign(private, public, data)
    e = signing.sm2_digest(public, data)
    for i in range(len(data)):
        assert signing.verify("sm2", public.hex(), flip(data, i), sig) is False
    for i in range(32):
        assert sm2_openssl.verify_digest(public, flip(e, i, 0x80), sig) is False
    for i in range(len(sig)):
        for bit in (1, 0x80):
            assert sm2_openssl.verify_digest(public, e, flip(sig, i, bit)) is False
    assert signing.verify("sm2", public.hex(), data + b" ", sig) is False
    assert signing.verify("sm2", public.hex(), data, sig + b"\x00") is False  # trailing byte after the DER
    assert signing.verify("sm2", public.hex(), data, sig[:-1]) is False


@needs_openssl
def test_signature_of_another_key_fails(keys):
    (pub_a, priv_a), (pub_b, _) = keys[0], keys[1]
    data = b"once-only evidence"
    sig = sign(priv_a, pub_a, data)
    assert signing.verify("sm2", pub_a.hex(), data, sig) is True
    assert signing.verify("sm2", pub_b.hex(), data, sig) is False
    assert sm2_openssl.verify_digest(pub_b, signing.sm2_digest(pub_a, data), sig) is False


@needs_openssl
def test_garbage_signatures_never_crash(keys):
    rng = random.Random(61)
    public, private = keys[0]
    e = signing.sm2_digest(public, b"payload")
    good = gmssl_pyx.sm2_sign_sm3_digest(private, e)
    for _ in range(3000):
        n = rng.randint(0, 200)
        garbage = bytes(rng.getrandbits(8) for _ in range(n))
        if rng.random() < 0.5 and garbage:
            garbage = b"\x30" + garbage[1:]  # reach the DER parser, not only the length checks
        assert sm2_openssl.verify_digest(public, e, garbage) is False
        assert signing.verify("sm2", public.hex(), b"payload", garbage) is False
    # well-formed DER around values that cannot be a signature, or a random one
    for r, s in [(0, 1), (1, 0), (0, 0), (N, 1), (1, N), (N + 1, 5), (2**256 - 1, 2**256 - 1), (1, 1), (N - 1, N - 1)]:
        assert sm2_openssl.verify_digest(public, e, der_sig(r, s)) is False
    for _ in range(200):
        assert sm2_openssl.verify_digest(public, e, der_sig(rng.randrange(1, N), rng.randrange(1, N))) is False
    # the same integers written non-minimally (an extra 0x00) or as BER long-form lengths
    r_hex = good[4:4 + good[3]]
    body = good[2:]
    assert sm2_openssl.verify_digest(public, e, b"\x30\x81" + bytes([len(body)]) + body) is False
    padded = b"\x02" + bytes([len(r_hex) + 1]) + b"\x00" + r_hex + good[4 + good[3]:]
    assert sm2_openssl.verify_digest(public, e, b"\x30" + bytes([len(padded)]) + padded) is False
    # and the genuine one still verifies after all that
    assert sm2_openssl.verify_digest(public, e, good) is True


@needs_openssl
def test_wrong_inputs_are_false(keys):
    public, private = keys[0]
    e = signing.sm2_digest(public, b"x")
    sig = gmssl_pyx.sm2_sign_sm3_digest(private, e)
    for bad_key in (b"", public[:63], public + b"\x00", b"\x04" + public, public * 2, b"\x00" * 64):
        assert sm2_openssl.verify_digest(bad_key, e, sig) is False
    for bad_e in (b"", e[:31], e + b"\x00", e * 2):
        assert sm2_openssl.verify_digest(public, bad_e, sig) is False
    for wrong_type in (None, public.hex(), 12, [1, 2]):
        assert sm2_openssl.verify_digest(wrong_type, e, sig) is False
        assert sm2_openssl.verify_digest(public, wrong_type, sig) is False
        assert sm2_openssl.verify_digest(public, e, wrong_type) is False
    assert signing.verify("sm2", public.hex()[:-2], b"x", sig) is False
    assert signing.verify("sm2", "zz" * 64, b"x", sig) is False


@needs_openssl
def test_public_key_not_on_the_curve_is_false(keys):
    rng = random.Random(7)
    public, private = keys[0]
    e = signing.sm2_digest(public, b"x")
    sig = gmssl_pyx.sm2_sign_sm3_digest(private, e)
    x, y = public[:32], public[32:]
    off = [x + flip(y, 31), flip(x, 0) + y, (P + 1).to_bytes(32, "big") + y, b"\xff" * 64]
    while len(off) < 60:
        raw = bytes(rng.getrandbits(8) for _ in range(64))
        if not on_curve(raw):
            off.append(raw)
    for raw in off:
        assert not on_curve(raw)
        assert sm2_openssl.verify_digest(raw, e, sig) is False
        assert signing.verify("sm2", raw.hex(), b"x", sig) is False
    assert on_curve(public)
    assert sm2_openssl.verify_digest(public, e, sig) is True


@needs_openssl
def test_backends_agree_on_random_cases(keys):
    """The same answer from libcrypto and gmssl_pyx on valid, altered, foreign-key and junk cases."""
    rng = random.Random(2026)
    counts = {True: 0, False: 0}
    for i in range(2500):
        public, private = keys[rng.randrange(len(keys))]
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        e = signing.sm2_digest(public, data)
        sig = gmssl_pyx.sm2_sign_sm3_digest(private, e)
        case = i % 5
        if case == 1:
            sig = flip(sig, rng.randrange(len(sig)), 1 << rng.randrange(8))
        elif case == 2:
            e = flip(e, rng.randrange(32), 1 << rng.randrange(8))
        elif case == 3:
            public = keys[(keys.index((public, private)) + 1) % len(keys)][0]
        elif case == 4:
            sig = der_sig(rng.randrange(1, N), rng.randrange(1, N))
        ours, theirs = sm2_openssl.verify_digest(public, e, sig), gmssl_verify(public, e, sig)
        assert ours is theirs or ours == theirs, (case, public.hex(), e.hex(), sig.hex())
        counts[ours] += 1
    assert counts[True] >= 500 and counts[False] >= 1500  # every case kind was exercised


def test_forcing_gmssl(keys, settings, monkeypatch):
    public, private = keys[0]
    data = b"forced"
    sig = sign(private, public, data)

    def refuse(*args):
        raise AssertionError("the OpenSSL backend must not be called when gmssl is forced")

    monkeypatch.setattr(sm2_openssl, "verify_digest", refuse)
    settings.TONGBAN_SM2_BACKEND = "gmssl"
    assert signing.sm2_backend() == "gmssl"
    assert signing.verify("sm2", public.hex(), data, sig) is True
    assert signing.verify("sm2", public.hex(), data + b"!", sig) is False
    # from the environment when the setting is absent
    del settings.TONGBAN_SM2_BACKEND
    monkeypatch.setenv("TONGBAN_SM2_BACKEND", "gmssl")
    assert signing.sm2_backend() == "gmssl"
    assert signing.verify("sm2", public.hex(), data, sig) is True


def test_fallback_when_unavailable(keys, monkeypatch):
    public, private = keys[0]
    data = b"fallback"
    sig = sign(private, public, data)
    monkeypatch.setattr(sm2_openssl, "_available", False)
    assert sm2_openssl.available() is False
    assert signing.sm2_backend() == "gmssl"
    with pytest.raises(sm2_openssl.BackendUnavailable):
        sm2_openssl.verify_digest(public, signing.sm2_digest(public, data), sig)
    assert signing.verify("sm2", public.hex(), data, sig) is True
    assert signing.verify("sm2", public.hex(), b"other", sig) is False


@needs_openssl
def test_backend_failing_at_run_time_falls_back_to_gmssl(keys, monkeypatch):
    public, private = keys[0]
    data = b"late failure"
    sig = sign(private, public, data)

    def broken(*args):
        raise sm2_openssl.BackendUnavailable("simulated")

    monkeypatch.setattr(sm2_openssl, "verify_digest", broken)
    assert signing.verify("sm2", public.hex(), data, sig) is True
    assert signing.verify("sm2", public.hex(), data + b"x", sig) is False


@needs_openssl
def test_probe_rejects_a_library_that_does_not_answer_true_and_false(monkeypatch):
    assert sm2_openssl._probe() is True
    monkeypatch.setattr(sm2_openssl, "_verify", lambda *a: True)
    assert sm2_openssl._probe() is False
    monkeypatch.setattr(sm2_openssl, "_verify", lambda *a: 1)  # truthy is not enough: exactly True/False
    assert sm2_openssl._probe() is False

    def crash(*a):
        raise OSError("simulated")

    monkeypatch.setattr(sm2_openssl, "_verify", crash)
    assert sm2_openssl._probe() is False


@needs_openssl
def test_key_cache_is_bounded_and_frees_evicted_keys(monkeypatch):
    cache = sm2_openssl._Keys(sm2_openssl._lib, size=3)
    monkeypatch.setattr(sm2_openssl, "_keys", cache)
    pairs = [keypair() for _ in range(6)]
    for _ in range(2):
        for public, private in pairs:
            e = signing.sm2_digest(public, b"cache")
            assert sm2_openssl.verify_digest(public, e, gmssl_pyx.sm2_sign_sm3_digest(private, e)) is True
            assert len(cache.items) <= 3
    assert list(cache.items) == [p for p, _ in pairs[-3:]]
    cache.clear()
    assert not cache.items
    public, private = pairs[0]
    e = signing.sm2_digest(public, b"after clear")
    assert sm2_openssl.verify_digest(public, e, gmssl_pyx.sm2_sign_sm3_digest(private, e)) is True
    cache.clear()


@needs_openssl
def test_threads_verify_concurrently(monkeypatch):
    """Several threads share the key cache; a tiny cache makes them evict keys the others are using."""
    cache = sm2_openssl._Keys(sm2_openssl._lib, size=2)
    monkeypatch.setattr(sm2_openssl, "_keys", cache)
    pairs = [keypair() for _ in range(5)]
    work = []
    for i in range(400):
        public, private = pairs[i % len(pairs)]
        data = f"并发 {i}".encode()
        e = signing.sm2_digest(public, data)
        sig = gmssl_pyx.sm2_sign_sm3_digest(private, e)
        if i % 3 == 0:
            work.append((public, flip(e, 0), sig, False))
        else:
            work.append((public, e, sig, True))
    errors = []

    def run(offset):
        try:
            for k in range(len(work)):
                public, e, sig, expected = work[(k + offset) % len(work)]
                if sm2_openssl.verify_digest(public, e, sig) is not expected:
                    errors.append((offset, k))
        except Exception as exc:  # surfaced in the main thread below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(n * 37,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache.items) <= 2
    cache.clear()


def test_ed25519_unaffected():
    key = signing.generate_key("ed25519")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sig = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key["private_key"])).sign(b"m")
    assert signing.verify("ed25519", key["public_key"], b"m", sig) is True
    assert signing.verify("ed25519", key["public_key"], b"n", sig) is False


@needs_openssl
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_forked_child_verifies_even_if_the_lock_was_held(keys):
    """A worker forked while another thread held the key-cache lock must not deadlock in the child."""
    public, private = keys[0]
    e = signing.sm2_digest(public, b"fork")
    sig = gmssl_pyx.sm2_sign_sm3_digest(private, e)
    assert sm2_openssl.verify_digest(public, e, sig) is True  # the key is cached before the fork
    with sm2_openssl._keys.lock:  # as if another thread were inside acquire() at fork time
        pid = os.fork()
        if pid == 0:  # child: exit code 0 only when both answers are right; a deadlock is killed by the alarm
            signal.alarm(30)
            ok = sm2_openssl.verify_digest(public, e, sig) is True and sm2_openssl.verify_digest(public, flip(e, 0), sig) is False
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

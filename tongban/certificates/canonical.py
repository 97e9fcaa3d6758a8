"""The signed head of a certificate and its canonical bytes.

The issuer signs `head_bytes(head(certificate))`: a short JSON object (short keys so that it fits a QR
code) naming the identifier, type, number, holder, issuer, dates, jurisdiction and a digest of the
full face data. The QR code carries exactly these bytes, so the signature verifies online and offline
alike; anyone can recompute the bytes from the record.
"""

import datetime
import json

from tongban.exchange.signing import HASH_ALG, digest

VERSION = 1


def canonical_json(value) -> bytes:
    """UTF-8 JSON with sorted keys, no spaces and Chinese left as is (the one encoding we sign)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def data_digest(algorithm, data: dict) -> str:
    """SM3 (for SM2) or SHA-256 (for Ed25519) hex of the canonical JSON of the face data."""
    return digest(HASH_ALG[algorithm], canonical_json(data or {}))


def _iso(value):
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def head(certificate) -> dict:
    c = certificate
    return {
        "v": VERSION,
        "id": c.identifier,
        "t": c.type.code,
        "tn": c.type.name,
        "n": c.number,
        "h": c.holder_name,
        "hc": c.holder_code,
        "i": c.issuer_code,
        "in": c.issuer_name,
        "d": _iso(c.issued_on),
        "f": _iso(c.valid_from),
        "u": _iso(c.valid_until),
        "j": c.jurisdiction,
        "dh": data_digest(c.algorithm, c.data),
        "k": c.key_id,
        "a": c.algorithm,
    }


def head_bytes(head: dict) -> bytes:
    return canonical_json(head)

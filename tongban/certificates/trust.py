"""The published list of trusted issuers (可信发证机构名单): every issuing department's public keys, active
and retired, and the keys revoked since, signed by this node's key.

A verifier downloads it once (`/certificates/trust-list.json`), checks it with the node's public key
obtained out of band, and can then verify certificate QR codes without a network (see `offline.py`).
The signed document is cached and rebuilt only when a key row changes: keys are created, retired and
revoked but never deleted, so the count and the latest of those timestamps name the list's state.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils import timezone

from tongban.exchange.signing import local_signer

from .canonical import canonical_json
from .models import IssuerKey

CACHE_SECONDS = 24 * 3600


def _iso(value):
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _state():
    """(version, fingerprint): the version is the time of the latest key change in whole seconds (it
    only grows, so a verifier keeps the highest), the fingerprint also tells same-second changes apart."""
    agg = IssuerKey.objects.aggregate(n=Count("pk"), c=Max("created_at"), r=Max("retired_at"), x=Max("revoked_at"))
    stamps = [t for t in (agg["c"], agg["r"], agg["x"]) if t]
    latest = max(stamps) if stamps else None
    version = int(latest.timestamp()) if latest else 0
    fingerprint = hashlib.sha256(f"{agg['n']}|{agg['c']}|{agg['r']}|{agg['x']}".encode()).hexdigest()[:24]
    return version, fingerprint


def document(version=None) -> dict:
    """The unsigned list."""
    if version is None:
        version = _state()[0]
    signer = local_signer()
    issuers, revoked = {}, []
    for key in IssuerKey.objects.select_related("department__region").order_by("department__credit_code", "created_at", "key_id"):
        dept = key.department
        if key.status == IssuerKey.REVOKED:
            revoked.append({"key_id": key.key_id, "algorithm": key.algorithm, "credit_code": dept.credit_code,
                            "department": dept.name, "revoked_at": _iso(key.revoked_at)})
            continue
        entry = issuers.setdefault(dept.pk, {"department": dept.name, "credit_code": dept.credit_code,
                                             "region": dept.region.code, "keys": []})
        entry["keys"].append({
            "key_id": key.key_id, "algorithm": key.algorithm, "public_key": key.public_key,
            "status": "active" if key.status == IssuerKey.ACTIVE else "retired",
            "valid_from": _iso(key.created_at), "valid_until": _iso(key.retired_at),
        })
    return {
        "version": version,
        "issued_at": _iso(timezone.now()),
        "node": {"id": settings.TONGBAN_NODE_ID, "name": settings.TONGBAN_NODE_NAME, "key_id": signer.key_id,
                 "algorithm": signer.algorithm, "public_key": signer.public_key},
        "issuers": list(issuers.values()),
        "revoked_keys": revoked,
    }


def sign(doc: dict) -> dict:
    signer = local_signer()
    return {"document": doc, "signature": signer.sign(canonical_json(doc)).hex(), "key_id": signer.key_id, "algorithm": signer.algorithm}


def trust_list() -> dict:
    """The signed list `{"document", "signature", "key_id", "algorithm"}` (the signature is over the
    canonical JSON of the document), from the cache while no key has changed."""
    version, fingerprint = _state()
    signer = local_signer()
    cache_key = f"cert-trust-list:{signer.key_id}:{fingerprint}"
    signed = cache.get(cache_key)
    if signed is None:
        signed = sign(document(version))
        cache.set(cache_key, signed, CACHE_SECONDS)
    return signed

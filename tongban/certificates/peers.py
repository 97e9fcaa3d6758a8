"""Other platform nodes' trusted-issuer lists and live status answers (跨节点验真).

A certificate issued on another node carries that node's issuer key id. Each registered peer publishes
its signed list at `{base_url}/certificates/trust-list.json`; we fetch it, check the signature with the
peer's node key from the exchange registry (the same key its envelopes are checked with) and keep it
(`PeerTrustList`). A list whose signature fails is stored untrusted with the error; a list older than
the one we hold is refused (a replay would bring a revoked key back). The peer is then asked for the
certificate's current status through its public verification API.
"""

import datetime
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from tongban.exchange.models import Node, NodeKey

from .models import PeerTrustList
from .offline import TrustListError, verify_trust_list

log = logging.getLogger("tongban.certificates")

TRUST_LIST_PATH = "/certificates/trust-list.json"
VERIFY_PATH = "/api/v1/certificates/verify"
PEER_HEADER = "X-Tongban-Node"  # a peer asking us: answer from the local records only (no asking back)
MAX_BODY = 2 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f<>]")


class PeerError(Exception):
    """A peer could not be reached or answered something unusable (message in Chinese)."""


def timeout():
    return float(getattr(settings, "TONGBAN_PEER_HTTP_TIMEOUT", 3))


def refresh_minutes():
    return int(getattr(settings, "TONGBAN_PEER_TRUST_REFRESH_MINUTES", 10))


def clean(value, length=300):
    """Text from a peer, fit to show and store: no control characters, no angle brackets (a peer's
    answer is data, never markup), bounded."""
    return _CONTROL.sub("", value if isinstance(value, str) else "").strip()[:length]


def _self_id():
    from tongban.exchange.service import self_node

    return self_node().node_id


def _get_json(url, headers=None):
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout()) as response:  # noqa: S310 (peer URLs are http(s) by registration)
            body = response.read(MAX_BODY + 1)
            status = response.status
    except urllib.error.HTTPError as exc:
        raise PeerError(f"对端节点答复HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PeerError(f"无法连接对端节点：{clean(str(reason), 120)}") from None
    if status != 200:
        raise PeerError(f"对端节点答复HTTP {status}")
    if len(body) > MAX_BODY:
        raise PeerError("对端节点的答复过大")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PeerError("对端节点的答复不是有效的JSON") from None


def peers():
    return list(Node.objects.filter(is_self=False, status=Node.ACTIVE).exclude(base_url="").order_by("node_id"))


# --- fetching and checking a peer's list -------------------------------------------------------------

def check_signed(node, signed) -> dict:
    """The document of `signed` when a registered, unrevoked key of `node` signed it; TrustListError."""
    if not isinstance(signed, dict):
        raise TrustListError("可信发证机构名单格式不正确")
    try:  # NUL or a lone surrogate would be refused by PostgreSQL when the list is stored
        text = json.dumps(signed, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError):
        raise TrustListError("可信发证机构名单含有无法保存的字符") from None
    if "\\u0000" in text or "\x00" in text:
        raise TrustListError("可信发证机构名单含有空字符")
    key_id = signed.get("key_id")
    key = NodeKey.objects.filter(node=node, key_id=key_id).first() if isinstance(key_id, str) and len(key_id) <= 64 else None
    if key is None:
        raise TrustListError("名单的签名密钥不是该节点登记的节点公钥")
    if key.revoked_at is not None:
        raise TrustListError("名单的签名密钥已被吊销")
    if signed.get("algorithm") != key.algorithm:
        raise TrustListError("名单的签名算法与该节点登记的公钥不一致")
    doc = verify_trust_list(signed, key.public_key)
    claimed = doc.get("node", {}).get("id") if isinstance(doc.get("node"), dict) else None
    if claimed != node.node_id:
        raise TrustListError(f"名单声明的节点标识（{clean(str(claimed), 64)}）与登记的节点不一致")
    if not isinstance(doc.get("version"), int) or not isinstance(doc.get("revoked_keys", []), list):
        raise TrustListError("可信发证机构名单格式不正确（版本或吊销密钥列表）")
    return doc


def store(node, signed) -> PeerTrustList:
    """Check `signed` as `node`'s list and keep it (one transaction, row locked: two syncs at once keep
    the newer list). A bad list is recorded as the error and never trusted."""
    now = timezone.now()
    with transaction.atomic():
        row, _ = PeerTrustList.objects.select_for_update().get_or_create(node_id=node.node_id, defaults={"node_name": node.name})
        row.node_name, row.checked_at = node.name, now
        try:
            doc = check_signed(node, signed)
        except TrustListError as exc:
            row.document = {}  # what failed is not kept as if it were a list (and may not even be storable)
            row.signature = clean(str(signed.get("signature", "")) if isinstance(signed, dict) else "", 400)
            row.key_id = clean(str(signed.get("key_id", "")) if isinstance(signed, dict) else "", 64)
            row.algorithm = clean(str(signed.get("algorithm", "")) if isinstance(signed, dict) else "", 12)
            row.verified, row.error = False, str(exc)
            row.save()
            log.warning("certificates: trust list of %s refused: %s", node.node_id, exc)
            return row
        if row.verified and doc["version"] < row.version:
            row.error = f"收到的名单版本（{doc['version']}）早于已保存的版本（{row.version}），可能是重放，未采用"
            row.save(update_fields=["node_name", "checked_at", "error"])
            return row
        row.document, row.signature, row.key_id, row.algorithm = doc, signed["signature"], signed["key_id"], signed["algorithm"]
        row.version, row.verified, row.fetched_at, row.error = doc["version"], True, now, ""
        row.save()
    return row


def sync(node) -> PeerTrustList:
    """Fetch and store one peer's list; an unreachable peer keeps its last verified list, with the error."""
    try:
        signed = _get_json(node.base_url.rstrip("/") + TRUST_LIST_PATH)
    except PeerError as exc:
        with transaction.atomic():
            row, _ = PeerTrustList.objects.select_for_update().get_or_create(node_id=node.node_id, defaults={"node_name": node.name})
            row.checked_at, row.error = timezone.now(), str(exc)
            row.save(update_fields=["checked_at", "error"])
        return row
    return store(node, signed)


def sync_all() -> list:
    return [sync(node) for node in peers()]


def refresh_stale() -> int:
    """Re-fetch the lists of peers not checked for `refresh_minutes` (lazily, when a verification meets
    an issuer or key no list names). One process refreshes a peer at a time; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(minutes=refresh_minutes())
    checked = dict(PeerTrustList.objects.values_list("node_id", "checked_at"))
    done = 0
    for node in peers():
        last = checked.get(node.node_id)
        if last is not None and last > cutoff:
            continue
        if not cache.add(f"cert-peer-refresh:{node.node_id}", 1, max(60, refresh_minutes() * 60)):
            continue
        sync(node)
        done += 1
    return done


@task()
def sync_trust_lists(reschedule_minutes=60):
    """Background re-sync of every peer's list (django-tasks, run by `manage.py db_worker`)."""
    if reschedule_minutes:  # the next run is queued first, so a failing run does not end the chain
        sync_trust_lists.using(run_after=timezone.now() + datetime.timedelta(minutes=reschedule_minutes)).enqueue(reschedule_minutes)
    rows = sync_all()
    return {"verified": sum(1 for r in rows if r.verified and not r.error), "failed": sum(1 for r in rows if r.error)}


# --- looking up keys and issuers -------------------------------------------------------------------

@dataclass
class PeerKey:
    node_id: str
    node_name: str
    base_url: str
    department: str
    credit_code: str
    key: dict  # {key_id, algorithm, public_key, status, valid_from, valid_until} or the revoked entry
    revoked: bool = False


def _trusted_lists():
    base = {n.node_id: n.base_url for n in peers()}
    return [(row, base[row.node_id]) for row in PeerTrustList.objects.filter(verified=True, node_id__in=list(base))]


def _find_keys(key_id):
    """Every listing of the key across the verified lists, revocations first (a revocation wins)."""
    found = []
    for row, base_url in _trusted_lists():
        doc = row.document
        for entry in doc.get("revoked_keys") or []:
            if isinstance(entry, dict) and entry.get("key_id") == key_id:
                found.append(PeerKey(row.node_id, row.node_name, base_url, clean(entry.get("department"), 120), clean(entry.get("credit_code"), 18), entry, True))
        for issuer in doc.get("issuers") or []:
            if not isinstance(issuer, dict):
                continue
            for key in issuer.get("keys") or []:
                if isinstance(key, dict) and key.get("key_id") == key_id:
                    found.append(PeerKey(row.node_id, row.node_name, base_url, clean(issuer.get("department"), 120), clean(issuer.get("credit_code"), 18), key))
    return sorted(found, key=lambda k: not k.revoked)


def find_keys(key_id, refresh=True) -> list:
    """The peers listing this issuer key (normally one; deployments cloned from one database share keys),
    revoked listings first; stale lists are refreshed once when none lists it."""
    if not isinstance(key_id, str) or not key_id or len(key_id) > 60:
        return []
    found = _find_keys(key_id)
    if not found and refresh and refresh_stale():
        found = _find_keys(key_id)
    return found


def find_key(key_id, refresh=True) -> PeerKey | None:
    found = find_keys(key_id, refresh)
    return found[0] if found else None


def _find_issuers(credit_code):
    found = []
    for row, base_url in _trusted_lists():
        for issuer in row.document.get("issuers") or []:
            if isinstance(issuer, dict) and issuer.get("credit_code") == credit_code:
                found.append(PeerKey(row.node_id, row.node_name, base_url, clean(issuer.get("department"), 120), credit_code, {}))
                break
    return found


def find_issuers(credit_code, refresh=True) -> list:
    """The peers whose lists name this issuing department."""
    found = _find_issuers(credit_code)
    if not found and refresh and refresh_stale():
        found = _find_issuers(credit_code)
    return found


# --- asking the issuing node -----------------------------------------------------------------------

def remote_status(peer: PeerKey, identifier) -> dict:
    """The issuing node's verdict on `identifier` as it answered through its public API:
    {status, message, newer_identifier, fields}; PeerError when unreachable or the answer is unusable."""
    from .identifiers import IdentifierError, parse
    from .verifying import LABELS

    url = f"{peer.base_url.rstrip('/')}{VERIFY_PATH}?{urlencode({'identifier': identifier})}"
    answer = _get_json(url, headers={PEER_HEADER: _self_id()})
    if not isinstance(answer, dict) or answer.get("status") not in LABELS:
        raise PeerError("对端节点的答复中没有可识别的查验结果")
    newer = clean(answer.get("newer_identifier"), 120)
    if newer:
        try:
            parse(newer)
        except IdentifierError:
            newer = ""
    fields = []
    for row in (answer.get("fields") or [])[:12] if isinstance(answer.get("fields"), list) else []:
        if isinstance(row, dict) and clean(row.get("label"), 40):
            fields.append((clean(row.get("label"), 40), clean(row.get("value"), 200)))
    return {"status": answer["status"], "message": clean(answer.get("message"), 300), "newer_identifier": newer, "fields": fields}


def asking_node(request_meta):
    """The registered peer a request claims to come from (the header is a claim, used to answer from
    local records only and to name the asker in the access log), or None."""
    claimed = (request_meta or {}).get("HTTP_" + PEER_HEADER.upper().replace("-", "_"))
    if not isinstance(claimed, str) or not claimed or len(claimed) > 64:
        return None
    return Node.objects.filter(node_id=claimed, is_self=False).first()

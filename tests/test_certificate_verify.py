"""验真: every verdict (valid, revoked, cancelled, superseded, expired, forged in the QR head, in the
signature and in the database, bad check character, unknown identifier, unknown and revoked keys), the
QR round trip, the trusted-issuer list and offline verification, rate limiting, the access log, the
public page's escaping and the API's shapes."""

import base64
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.conftest import make_applicant, make_department
from tongban.certificates import canonical, identifiers, issuing, keys, offline, qr, trust, verifying
from tongban.certificates.models import Certificate, CertificateType, IssuerKey
from tongban.core.codes import make_uscc
from tongban.core.errors import DomainError
from tongban.directory.models import Region
from tongban.exchange.signing import generate_key, local_signer
from tongban.sharing import access_log
from tongban.sharing.models import AccessLog

ROOT = Path(__file__).resolve().parent.parent
FIELDS = [
    {"key": "business_scope", "label": "经营范围", "type": "text", "required": True},
    {"key": "founded_on", "label": "成立日期", "type": "date", "required": False},
]
_n = [0]


def make_type(*departments, fields=FIELDS, years=5, holder_kind="natural"):
    _n[0] += 1
    ministry = make_uscc("11", "100000", f"8{_n[0]:07d}")
    ctype = CertificateType.objects.create(
        code=f"{ministry}{_n[0] % 1000:03d}", name=f"食品经营许可证{_n[0]}", ministry_name="测试部（演示）",
        region=Region.objects.get(code="000000"), holder_kind=holder_kind, fields=fields, validity_years=years,
    )
    ctype.issuing_departments.set(departments)
    return ctype


class World:
    def __init__(self):
        self.dept = make_department("371327", f"莒南县市场监督管理局{_n[0]}")
        self.ctype = make_type(self.dept)
        self.holder = make_applicant(name="张小明")

    def issue(self, **kw):
        holder = {"name": self.holder.name, "code": self.holder.id_number, "code_type": "公民身份号码", "applicant": self.holder}
        return issuing.issue(self.ctype, self.dept, holder, kw.pop("data", {"business_scope": "预包装食品销售"}), **kw)


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return World()


def payload(cert):
    return qr.encode(canonical.head_bytes(canonical.head(cert)), bytes.fromhex(cert.signature))


def split(text):
    prefix, head, sig = text.split(".")
    unb64 = qr._unb64
    return unb64(head), unb64(sig)


# --- verdicts ---------------------------------------------------------------------------------------

def test_valid_by_identifier_shows_masked_public_fields_and_logs(world):
    cert = world.issue()
    before = AccessLog.objects.count()
    v = verifying.verify_identifier(cert.identifier.lower(), request_meta={"REMOTE_ADDR": "10.1.2.3"})
    assert v.status == "valid" and v.label == "有效" and v.ok and v.certificate == cert
    fields = dict(v.fields)
    assert fields["持证主体"] == "张*明"
    assert fields["持证主体代码"] == cert.masked_holder_code and cert.holder_code not in str(v.fields)
    assert fields["证照编号"] == cert.number and fields["发证机构"] == world.dept.name
    assert v.head == canonical.head(cert)
    row = AccessLog.objects.order_by("-seq").first()
    assert AccessLog.objects.count() == before + 1
    assert (row.action, row.outcome, row.identifier, row.holder_code) == ("verify", "granted", cert.identifier, cert.holder_code)
    assert "有效" in row.reason and "10.1.2.3" not in row.reason and row.actor_name == "公众查验"
    assert access_log.verify() is None
    assert [r.pk for r in access_log.for_holder(cert.holder_code)] == [row.pk]


def test_revoked_and_cancelled_name_reason_and_date(world):
    a, b = world.issue(), world.issue()
    issuing.revoke(a, None, "以欺骗手段取得许可")
    issuing.revoke(b, None, "申请人申请注销", cancel=True)
    va, vb = verifying.verify_identifier(a.identifier), verifying.verify_identifier(b.identifier)
    assert va.status == "revoked" and va.label == "已吊销" and "以欺骗手段取得许可" in va.message
    assert datetime.date.today().isoformat()[:4] in va.message
    assert vb.status == "cancelled" and vb.label == "已注销" and "申请人申请注销" in vb.message


def test_superseded_names_the_current_version(world):
    v1 = world.issue()
    v2 = issuing.change(v1, {"business_scope": "预包装食品销售、散装食品销售"}, None, "增加经营项目")
    v3 = issuing.change(v2, {"business_scope": "餐饮服务"}, None, "变更经营项目")
    for old in (v1, v2):
        v = verifying.verify_identifier(old.identifier)
        assert v.status == "superseded" and v.label == "已变更" and v.newer == v3.identifier and v3.identifier in v.message
    assert verifying.verify_identifier(v3.identifier).status == "valid"


def test_expired(world):
    cert = world.issue(valid_from=datetime.date(2018, 1, 1), valid_until=datetime.date(2021, 12, 31))
    v = verifying.verify_identifier(cert.identifier)
    assert v.status == "expired" and "2021-12-31" in v.message


def test_data_changed_in_database_is_forged(world):
    cert = world.issue()
    Certificate.objects.filter(pk=cert.pk).update(data={"business_scope": "烟草专卖零售"})
    v = verifying.verify_identifier(cert.identifier)
    assert v.status == "forged" and v.message == verifying.TAMPERED
    # The QR code issued before the change still carries the signed head: it no longer matches the record.
    vq = verifying.verify_qr(payload(cert))
    assert vq.status == "forged" and "不一致" in vq.message


def test_status_set_back_to_valid_in_database_is_forged(world):
    revoked, changed = world.issue(), world.issue()
    issuing.revoke(revoked, None, "违法经营")
    issuing.change(changed, {"business_scope": "餐饮服务"}, None, "变更")
    Certificate.objects.filter(pk__in=[revoked.pk, changed.pk]).update(status="valid", status_reason="")
    for cert in (revoked, changed):
        v = verifying.verify_identifier(cert.identifier)
        assert v.status == "forged" and "变更记录不一致" in v.message


def test_holder_changed_in_database_is_forged(world):
    cert = world.issue()
    Certificate.objects.filter(pk=cert.pk).update(holder_name="李四")
    assert verifying.verify_identifier(cert.identifier).status == "forged"


def test_bad_check_character_and_malformed_identifiers_are_forged(world):
    cert = world.issue()
    last = cert.identifier[-1]
    wrong = cert.identifier[:-1] + ("0" if last != "0" else "1")
    v = verifying.verify_identifier(wrong)
    assert v.status == "forged" and verifying.BAD_IDENTIFIER in v.message and "校验位" in v.message
    for text in ("1.2.156.3005.2.abc", "<script>", "1.2.156.3005.2." + "9" * 200):
        assert verifying.verify_identifier(text).status == "forged"


def test_unknown_identifier(world):
    cert = world.issue()
    other = identifiers.make(world.ctype.code, world.dept.credit_code, "209900000001", 1)
    v = verifying.verify_identifier(other)
    assert v.status == "unknown" and v.label == "未查到" and v.message == verifying.NOT_FOUND
    assert verifying.verify_identifier(cert.identifier).status == "valid"


def test_unknown_key_and_key_of_another_department(world):
    cert = world.issue()
    Certificate.objects.filter(pk=cert.pk).update(key_id="sm2-0000000000000000")
    v = verifying.verify_identifier(cert.identifier)
    assert v.status == "untrusted_key" and "未在本平台登记" in v.message
    # A QR code signed with a key nobody registered (the forger's own).
    forger = generate_key("ed25519")
    head = dict(canonical.head(Certificate.objects.get(pk=cert.pk)), k=forger["key_id"], a="ed25519")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sig = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(forger["private_key"])).sign(canonical.head_bytes(head))
    assert verifying.verify_qr(qr.encode(canonical.head_bytes(head), sig)).status == "untrusted_key"
    # A registered key of another department cannot vouch for this issuer's certificates.
    other = make_department("371327", "莒南县其他局")
    other_key = keys.active_key(other)
    Certificate.objects.filter(pk=cert.pk).update(key_id=other_key.key_id)
    v = verifying.verify_identifier(cert.identifier)
    assert v.status == "untrusted_key" and "不属于" in v.message


def test_revoked_key_is_untrusted_but_retired_key_still_verifies(world):
    cert = world.issue()
    keys.rotate(world.dept, None)
    assert IssuerKey.objects.get(key_id=cert.key_id).status == "retired"
    assert verifying.verify_identifier(cert.identifier).status == "valid"
    newer = world.issue()
    assert newer.key_id != cert.key_id
    keys.revoke_key(cert.key_id, None, "私钥泄露")
    v = verifying.verify_identifier(cert.identifier)
    assert v.status == "untrusted_key" and "吊销" in v.message
    assert verifying.verify_qr(payload(cert)).status == "untrusted_key"
    assert verifying.verify_identifier(newer.identifier).status == "valid"


# --- the QR code ------------------------------------------------------------------------------------

def test_qr_round_trip_from_url_and_payload(world):
    cert = world.issue()
    text = qr.qr_text(cert)
    assert text.startswith("http") and "/verify/?c=TBC1." in text
    for given in (text, payload(cert), "c=" + text.split("c=", 1)[1]):
        v = verifying.verify_qr(given)
        assert v.status == "valid" and v.certificate == cert and v.head["id"] == cert.identifier


def test_one_byte_changed_in_qr_head_or_signature_is_forged(world):
    cert = world.issue()
    head_bytes, sig = split(payload(cert))
    # Change one byte of the head while keeping it valid JSON (the holder's code, one digit).
    code = cert.holder_code.encode()
    changed = code[:-2] + bytes([(code[-2] - 48 + 1) % 10 + 48]) + code[-1:]
    forged_head = head_bytes.replace(code, changed)
    assert forged_head != head_bytes and len(forged_head) == len(head_bytes)
    v = verifying.verify_qr(qr.encode(forged_head, sig))
    assert v.status == "forged" and "不符" in v.message
    assert v.fields == []  # what a forged code claims is not repeated back
    # One byte of the signature.
    bad_sig = bytearray(sig)
    bad_sig[len(sig) // 2] ^= 0x01
    assert verifying.verify_qr(qr.encode(head_bytes, bytes(bad_sig))).status == "forged"
    # One character of the text itself, anywhere in the head part: never anything but forged.
    text = payload(cert)
    for i in (6, 20, len(text.split(".")[1]) // 2 + 5):
        flipped = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]
        assert verifying.verify_qr(flipped).status == "forged", i
    # Garbage and other codes.
    for junk in ("", "hello", "TBC1.xx.yy", "TBC1." + "A" * 3000, "https://example.com/?x=1", "TBC1.e30.AA"):
        assert verifying.verify_qr(junk).status == "forged"


def test_qr_with_nul_in_key_id_does_not_reach_the_database(world):
    cert = world.issue()
    head = dict(canonical.head(cert), k="sm2-\x00abc")
    v = verifying.verify_qr(qr.encode(canonical.head_bytes(head), bytes.fromhex(cert.signature)))
    assert v.status == "untrusted_key"


def test_verify_certificate_for_once_only_use(world):
    cert = world.issue()
    v = verifying.verify_certificate(cert)
    assert v.status == "valid" and v.certificate == cert
    row = AccessLog.objects.order_by("-seq").first()
    assert row.action == "verify" and row.identifier == cert.identifier and row.purpose == "用证前核验"
    issuing.revoke(cert, None, "违法")
    assert verifying.verify_certificate(cert).status == "revoked"  # the caller's stale copy is read again


def test_organisation_holder_name_is_not_masked(world):
    ctype = make_type(world.dept, holder_kind="legal")
    code = make_uscc("91", "371327", "MA3C1234")
    cert = issuing.issue(ctype, world.dept, {"name": "莒南县某某食品有限公司", "code": code, "code_type": "统一社会信用代码"},
                         {"business_scope": "食品"})
    fields = dict(verifying.verify_identifier(cert.identifier).fields)
    assert fields["持证主体"] == "莒南县某某食品有限公司" and fields["持证主体代码"] != code
    assert verifying.mask_name("欧阳娜娜") == "欧**娜" and verifying.mask_name("王五") == "王*"


# --- rate limit -------------------------------------------------------------------------------------

def test_rate_limit_per_client_refuses_with_429_and_logs_once(world, settings):
    settings.TONGBAN_VERIFY_PER_HOUR = 3
    cert = world.issue()
    meta = {"REMOTE_ADDR": "10.9.9.9"}
    for _ in range(3):
        assert verifying.public_verify(identifier=cert.identifier, request_meta=meta).status == "valid"
    for _ in range(2):
        with pytest.raises(DomainError) as exc:
            verifying.public_verify(identifier=cert.identifier, request_meta=meta)
        assert exc.value.status == 429 and exc.value.message == "查验过于频繁，请稍后再试"
    refused = AccessLog.objects.filter(action="verify", outcome="refused")
    assert refused.count() == 1 and "查验过于频繁" in refused.get().reason
    # Another client is not affected.
    assert verifying.public_verify(identifier=cert.identifier, request_meta={"REMOTE_ADDR": "10.9.9.10"}).status == "valid"
    # The page and the API answer 429 in Chinese.
    client = Client(REMOTE_ADDR="10.9.9.9")
    page = client.get("/verify/", {"identifier": cert.identifier})
    assert page.status_code == 429 and "查验过于频繁，请稍后再试" in page.content.decode()
    api = client.get("/api/v1/certificates/verify", {"identifier": cert.identifier})
    assert api.status_code == 429 and api.json()["detail"] == "查验过于频繁，请稍后再试"
    assert access_log.verify() is None


# --- the trusted-issuer list and offline verification ---------------------------------------------

def test_trust_list_is_signed_by_the_node_and_follows_key_changes(world):
    cert = world.issue()
    signed = trust.trust_list()
    node = local_signer()
    doc = offline.verify_trust_list(signed, node.public_key)
    assert doc["node"]["key_id"] == node.key_id and signed["key_id"] == node.key_id
    issuer = next(i for i in doc["issuers"] if i["credit_code"] == world.dept.credit_code)
    assert [k["key_id"] for k in issuer["keys"]] == [cert.key_id] and issuer["keys"][0]["status"] == "active"
    assert trust.trust_list() == signed  # cached while nothing changes
    new = keys.rotate(world.dept, None)
    rotated = offline.verify_trust_list(trust.trust_list(), node.public_key)
    issuer = next(i for i in rotated["issuers"] if i["credit_code"] == world.dept.credit_code)
    assert {k["key_id"]: k["status"] for k in issuer["keys"]} == {cert.key_id: "retired", new.key_id: "active"}
    assert rotated["version"] >= doc["version"]
    keys.revoke_key(cert.key_id, None, "泄露")
    revoked = offline.verify_trust_list(trust.trust_list(), node.public_key)
    assert [k["key_id"] for k in revoked["revoked_keys"]] == [cert.key_id]
    assert all(k["key_id"] != cert.key_id for i in revoked["issuers"] for k in i["keys"])


def test_tampered_trust_list_or_wrong_node_key_is_refused(world):
    world.issue()
    signed = trust.trust_list()
    node = local_signer()
    tampered = json.loads(json.dumps(signed))
    tampered["document"]["issuers"][0]["keys"][0]["public_key"] = generate_key(node.algorithm)["public_key"]
    with pytest.raises(offline.TrustListError, match="签名验证失败"):
        offline.verify_trust_list(tampered, node.public_key)
    other = generate_key(node.algorithm)["public_key"]
    with pytest.raises(offline.TrustListError):
        offline.verify_trust_list(signed, other)
    with pytest.raises(offline.TrustListError):
        offline.verify_offline(payload(Certificate.objects.first()), tampered, node_public_key=node.public_key)
    with pytest.raises(offline.TrustListError):
        offline.verify_trust_list({"document": "x"}, node.public_key)


def test_offline_valid_forged_untrusted_expired(world):
    cert = world.issue()
    old = world.issue(valid_from=datetime.date(2018, 1, 1), valid_until=datetime.date(2020, 1, 1))
    signed = trust.trust_list()
    node = local_signer().public_key
    r = offline.verify_offline(qr.qr_text(cert), signed, node_public_key=node)
    assert r["status"] == "valid" and offline.OFFLINE_NOTE in r["message"] and r["head"]["id"] == cert.identifier
    doc = offline.verify_trust_list(signed, node)
    head_bytes, sig = split(payload(cert))
    forged = qr.encode(head_bytes.replace(cert.number.encode(), cert.number[:-1].encode() + b"9" if cert.number[-1] != "9" else b"8"), sig)
    assert offline.verify_offline(forged, doc)["status"] == "forged"
    assert offline.verify_offline("TBC1.garbage", doc)["status"] == "forged"
    assert offline.verify_offline(payload(old), doc)["status"] == "expired"
    # A department not on the list (the list was downloaded before it had a key).
    other_dept = make_department("371327", "莒南县后来的局")
    other_type = make_type(other_dept)
    later = issuing.issue(other_type, other_dept, {"name": "李四", "code": world.holder.id_number, "code_type": "公民身份号码"},
                          {"business_scope": "x"})
    r = offline.verify_offline(payload(later), doc)
    assert r["status"] == "untrusted_key" and "不在可信发证机构名单中" in r["message"]
    # A revoked key on a newer list.
    keys.revoke_key(cert.key_id, None, "泄露")
    r = offline.verify_offline(payload(cert), trust.trust_list(), node_public_key=node)
    assert r["status"] == "untrusted_key"
    # Offline and online agree on the QR format.
    assert offline.decode(qr.qr_text(cert))[0] == qr.decode(payload(cert))[0]


def test_offline_module_runs_without_django(world, tmp_path):
    cert = world.issue()
    node = local_signer().public_key
    (tmp_path / "list.json").write_text(json.dumps(trust.trust_list(), ensure_ascii=False), encoding="utf-8")
    script = (
        "import json, sys\n"
        "from tongban.certificates import offline\n"
        "doc = json.load(open(sys.argv[1], encoding='utf-8'))\n"
        "r = offline.verify_offline(sys.argv[3], doc, node_public_key=sys.argv[2])\n"
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))\n"
        "print(r['status'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "list.json"), node, qr.qr_text(cert)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "valid"


def test_offline_management_command(world, tmp_path, capsys):
    cert = world.issue()
    path = tmp_path / "trust-list.json"
    path.write_text(json.dumps(trust.trust_list(), ensure_ascii=False), encoding="utf-8")
    node = local_signer().public_key
    call_command("certificate_verify_offline", qr.qr_text(cert), trust_list=str(path), node_key=node)
    out = capsys.readouterr().out
    assert "核验结果：签名有效" in out and cert.identifier in out and "联网查验" in out
    head_bytes, sig = split(payload(cert))
    with pytest.raises(SystemExit) as exc:
        call_command("certificate_verify_offline", qr.encode(head_bytes, sig[:-1] + bytes([sig[-1] ^ 1])), trust_list=str(path), node_key=node)
    assert exc.value.code == 1 and "疑似伪造" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="签名验证失败"):
        call_command("certificate_verify_offline", payload(cert), trust_list=str(path), node_key=generate_key("sm2")["public_key"])


# --- the public page and the API ----------------------------------------------------------------------

def test_verify_page_by_identifier_qr_link_and_traditional_script(world):
    cert = world.issue()
    client = Client()
    page = client.get("/verify/")
    assert page.status_code == 200 and "电子证照验真" in page.content.decode()
    assert local_signer().public_key in page.content.decode() and "/certificates/trust-list.json" in page.content.decode()
    html = client.get("/verify/", {"identifier": cert.identifier}).content.decode()
    assert "有效" in html and "张*明" in html and cert.holder_code not in html and 'data-status="valid"' in html
    html = client.get(qr.qr_text(cert).split("127.0.0.1:8000", 1)[1]).content.decode()
    assert 'data-status="valid"' in html and cert.number in html
    posted = client.post("/verify/", {"qr": payload(cert)})
    assert posted.status_code == 200 and 'data-status="valid"' in posted.content.decode()
    empty = client.post("/verify/", {"identifier": ""})
    assert empty.status_code == 422 and "请输入证照标识" in empty.content.decode()
    issuing.revoke(cert, None, "违法")
    assert 'data-status="revoked"' in client.get("/verify/", {"identifier": cert.identifier}).content.decode()
    client.get("/prefs/script/hant/")
    hant = client.get("/verify/", {"identifier": cert.identifier}).content.decode()
    assert "電子證照驗真" in hant and "已吊銷" in hant
    client.get("/prefs/elder/on/")
    assert 'class="elder' in client.get("/verify/").content.decode()


def test_verify_page_escapes_hostile_input(world):
    client = Client()
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    for params in ({"identifier": hostile}, {"c": hostile}, {"c": "TBC1." + base64.urlsafe_b64encode(
            json.dumps({"id": hostile, "tn": hostile, "k": hostile}).encode()).decode().rstrip("=") + ".AAAA"}):
        response = client.get("/verify/", params)
        html = response.content.decode()
        assert response.status_code in (200, 422)
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "疑似伪造" in html or "签名密钥不可信" in html
    assert client.get("/verify/", {"identifier": "a\x00b"}).status_code in (200, 422)


def test_api_shapes(world):
    cert = world.issue()
    client = Client()
    got = client.get("/api/v1/certificates/verify", {"identifier": cert.identifier})
    assert got.status_code == 200
    body = got.json()
    assert set(body) == {"status", "label", "message", "identifier", "newer_identifier", "fields"}
    assert body["status"] == "valid" and body["identifier"] == cert.identifier
    assert {"label": "持证主体", "value": "张*明"} in body["fields"]
    posted = client.post("/api/v1/certificates/verify", {"qr": qr.qr_text(cert)}, content_type="application/json")
    assert posted.status_code == 200 and posted.json()["status"] == "valid"
    forged = client.post("/api/v1/certificates/verify", {"identifier": cert.identifier[:-1] + "#"}, content_type="application/json")
    assert forged.status_code == 200 and forged.json()["status"] == "forged"
    missing = client.get("/api/v1/certificates/verify")
    assert missing.status_code == 422 and "请输入证照标识" in missing.json()["detail"]
    extra = client.post("/api/v1/certificates/verify", {"identifier": cert.identifier, "x": 1}, content_type="application/json")
    assert extra.status_code == 422
    tl = client.get("/api/v1/certificates/trust-list")
    assert tl.status_code == 200 and set(tl.json()) == {"document", "signature", "key_id", "algorithm"}
    offline.verify_trust_list(tl.json(), local_signer().public_key)
    page = client.get("/certificates/trust-list.json")
    assert page.status_code == 200 and page["Content-Type"].startswith("application/json")
    offline.verify_trust_list(page.json(), local_signer().public_key)


def test_nul_and_lone_surrogates_never_reach_the_database(world):
    cert = world.issue()
    head = dict(canonical.head(cert), id="1.2\u0000x", hc="37\ud800")
    raw = json.dumps(head).encode()  # ASCII with \\u escapes: decodes back to NUL and a lone surrogate
    text = qr.encode(raw, bytes.fromhex(cert.signature))
    v = verifying.verify_qr(text)
    assert v.status in ("forged", "untrusted_key")
    row = AccessLog.objects.order_by("-seq").first()
    assert "\x00" not in row.identifier and row.identifier == "1.2x" and row.holder_code == "37"
    client = Client()
    for body in ({"identifier": "1.2\ud800"}, {"qr": "TBC1.\u0000.x"}, {"qr": text}):
        r = client.post("/api/v1/certificates/verify", json.dumps(body), content_type="application/json")
        assert r.status_code in (200, 422), (body, r.status_code)
    assert client.get("/verify/", {"c": text}).status_code == 200
    assert client.get("/api/v1/certificates/verify", {"qr": text}).status_code == 200

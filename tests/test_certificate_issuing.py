"""Issuing electronic certificates: on case conclusion, data validation, keys, changes, revocations,
the layout file and the staff list's visibility."""

import datetime
import re
import threading
import zlib

import pytest
from django.db import connection, connections

from tests.conftest import make_applicant, make_department, make_id_number
from tongban.cases.models import Status as S
from tongban.certificates import canonical, identifiers, issuing, keys, rendering
from tongban.certificates.models import Certificate, CertificateEvent, CertificateType, IssuerKey, Status
from tongban.core.codes import make_uscc
from tongban.core.errors import Conflict, DomainError
from tongban.directory.models import Region
from tongban.exchange.signing import verify

_n = [0]

FIELDS = [
    {"key": "business_scope", "label": "经营范围", "type": "text", "required": True},
    {"key": "capital", "label": "注册资本（万元）", "type": "number", "required": False},
    {"key": "founded_on", "label": "成立日期", "type": "date", "required": False},
]


def make_type(*departments, template="certificate", holder_kind="natural", fields=FIELDS, years=5, name=None):
    _n[0] += 1
    ministry = make_uscc("11", "100000", f"9{_n[0]:07d}")
    ctype = CertificateType.objects.create(
        code=f"{ministry}{_n[0] % 1000:03d}", name=name or f"测试许可证{_n[0]}", ministry_name="测试部（演示）",
        region=Region.objects.get(code="000000"), holder_kind=holder_kind, fields=fields, validity_years=years, template=template,
    )
    ctype.issuing_departments.set(departments)
    return ctype


def person(applicant=None, code=None):
    return {"name": applicant.name if applicant else "李四", "code": code or (applicant.id_number if applicant else make_id_number()),
            "code_type": "公民身份号码", "applicant": applicant}


def verifies(cert):
    key = keys.public_key(cert.key_id)
    return verify(key.algorithm, key.public_key, canonical.head_bytes(canonical.head(cert)), bytes.fromhex(cert.signature))


@pytest.fixture
def dept(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_department("371327", "莒南县测试市场监督管理局")


def test_issue_signs_a_valid_identifier_and_validity(dept):
    ctype = make_type(dept)
    cert = issuing.issue(ctype, dept, person(), {"business_scope": "食品销售", "capital": 100, "founded_on": "2020-02-29"})
    parts = identifiers.parse(cert.identifier)
    assert parts["type_code"] == ctype.code and parts["issuer_code"] == dept.credit_code and parts["version"] == 1
    assert cert.serial == f"{cert.issued_on.year}00000001"
    assert cert.valid_until == issuing._add_years(cert.valid_from, 5) - datetime.timedelta(days=1)
    assert cert.data == {"business_scope": "食品销售", "capital": "100", "founded_on": "2020-02-29"}
    assert cert.algorithm == "sm2" and verifies(cert)
    assert CertificateEvent.objects.filter(certificate=cert, action="issue").count() == 1
    second = issuing.issue(ctype, dept, person(), {"business_scope": "餐饮"})
    assert second.serial == f"{cert.issued_on.year}00000002" and second.key_id == cert.key_id
    tampered = Certificate.objects.get(pk=cert.pk)
    tampered.data["business_scope"] = "烟草专卖"
    assert not verifies(tampered)


@pytest.mark.parametrize("data, message", [
    ({}, "请填写经营范围"),
    ({"business_scope": "x", "capital": "一百"}, "注册资本（万元）应为数字"),
    ({"business_scope": "x", "founded_on": "2020-13-01"}, "成立日期应为日期"),
    ({"business_scope": "x", "unknown": "1"}, "不是"),
    ({"business_scope": "x" * 501}, "过长"),
    ({"business_scope": ["a"]}, "应为文字"),
    ("not a dict", "格式不正确"),
])
def test_bad_face_data_is_refused_with_422_and_nothing_written(dept, data, message):
    ctype = make_type(dept)
    with pytest.raises(DomainError, match=message) as exc:
        issuing.issue(ctype, dept, person(), data)
    assert exc.value.status == 422
    assert not Certificate.objects.exists()


def test_holder_code_and_issuer_are_checked(dept):
    ctype = make_type(dept)
    good = make_id_number()
    bad = good[:17] + ("X" if good[17] != "X" else "1")
    with pytest.raises(DomainError, match="持证主体代码不正确.*校验位") as exc:
        issuing.issue(ctype, dept, person(code=bad), {"business_scope": "x"})
    assert exc.value.status == 422
    with pytest.raises(DomainError, match="持证主体代码不正确"):
        issuing.issue(ctype, dept, person(code=good[:-1] + "Y"), {"business_scope": "x"})
    legal = make_type(dept, holder_kind="legal")
    with pytest.raises(DomainError, match="法人"):
        issuing.issue(legal, dept, person(), {"business_scope": "x"})
    company = {"name": "莒南县测试食品有限公司", "code": make_uscc("91", "371327", "MA000001"), "code_type": "统一社会信用代码"}
    assert issuing.issue(legal, dept, company, {"business_scope": "x"}).holder_code_type == "统一社会信用代码"
    other = make_department("371327", "莒南县另一个局")
    with pytest.raises(DomainError, match="不是“.*”的发证部门") as exc:
        issuing.issue(ctype, other, person(), {"business_scope": "x"})
    assert exc.value.status == 403
    assert Certificate.objects.count() == 1


def test_issue_on_case_conclusion_through_the_lifecycle(case_world):
    w = case_world()
    ctype = make_type(w.department, fields=[{"key": "business_scope", "label": "经营范围", "type": "text", "required": False}])
    w.version.certificate_type = ctype
    w.version.save()
    case = w.act(w.submitted_case(), "accept")
    case.form_data = {"business_scope": "预包装食品销售", "other": "ignored"}
    case.save(update_fields=["form_data"])
    case = w.act(case, "approve", w.approver, "符合条件", result_name="食品经营许可")
    assert not Certificate.objects.filter(case=case).exists()
    case = w.act(case, "conclude", w.approver)
    assert case.status == S.CONCLUDED
    cert = Certificate.objects.get(case=case)
    identifiers.parse(cert.identifier)
    assert verifies(cert)
    assert cert.holder_id == w.applicant.pk and cert.holder_code == w.applicant.id_number and cert.issuer_id == w.department.pk
    assert cert.data == {"business_scope": "预包装食品销售", "result_name": "食品经营许可"}
    case.refresh_from_db()
    assert case.certificate_no == cert.identifier
    with pytest.raises(Conflict):
        w.act(case, "conclude", w.approver)
    assert Certificate.objects.filter(case=case).count() == 1
    assert issuing.issue_for_case(case) is None  # once per case


def test_denied_case_issues_nothing(case_world):
    w = case_world()
    w.version.certificate_type = make_type(w.department, fields=[])
    w.version.save()
    case = w.act(w.act(w.submitted_case(), "accept"), "deny", w.approver, "不符合《条例》第十条规定的条件")
    assert w.act(case, "conclude").status == S.CONCLUDED
    assert not Certificate.objects.exists()


def test_missing_required_data_blocks_conclusion_with_a_clear_message(case_world):
    w = case_world()
    w.version.certificate_type = make_type(w.department)  # 经营范围 required, absent from the form
    w.version.save()
    case = w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver, "符合条件")
    with pytest.raises(DomainError, match="办结时签发.*请填写经营范围"):
        w.act(case, "conclude", w.approver)
    case.refresh_from_db()
    assert case.status == S.APPROVED and not Certificate.objects.exists()


def test_change_supersedes_and_revoke_rules(dept, staff_factory):
    approver, _ = staff_factory("approver", "371327", dept)
    outsider, _ = staff_factory("approver", "371327", make_department("371327"))
    ctype = make_type(dept)
    cert = issuing.issue(ctype, dept, person(), {"business_scope": "食品销售"})
    with pytest.raises(DomainError, match="变更原因"):
        issuing.change(cert, {"business_scope": "餐饮"}, approver, " ")
    with pytest.raises(DomainError, match="没有变化"):
        issuing.change(cert, {"business_scope": "食品销售"}, approver, "换证")
    from tongban.core.authz import PermissionDenied

    with pytest.raises(PermissionDenied):
        issuing.change(cert, {"business_scope": "餐饮"}, outsider, "换证")
    new = issuing.change(cert, {"business_scope": "餐饮服务"}, approver, "经营范围变更")
    old = Certificate.objects.get(pk=cert.pk)
    assert old.status == Status.SUPERSEDED and old.status_reason == "经营范围变更" and old.status_changed_at
    assert new.serial == old.serial and new.version == 2 and new.number == old.number and new.supersedes_id == old.pk
    assert identifiers.parse(new.identifier)["version"] == 2 and verifies(new) and verifies(old)
    assert CertificateEvent.objects.filter(certificate=old, action="supersede").exists()
    with pytest.raises(Conflict, match="已变更"):
        issuing.change(old, {"business_scope": "x"}, approver, "再变")
    with pytest.raises(Conflict):
        issuing.revoke(old, approver, "违法经营")
    with pytest.raises(DomainError, match="吊销原因"):
        issuing.revoke(new, approver, "")
    revoked = issuing.revoke(new, approver, "违法经营被吊销")
    assert revoked.status == Status.REVOKED
    with pytest.raises(Conflict, match="已吊销"):
        issuing.revoke(new, approver, "again", cancel=True)
    other = issuing.issue(ctype, dept, person(), {"business_scope": "x"})
    assert issuing.revoke(other, approver, "申请注销", cancel=True).status == Status.CANCELLED
    assert CertificateEvent.objects.filter(certificate=other, action="cancel").count() == 1


def test_key_encrypted_at_rest_and_wrong_kek_fails_cleanly(dept, settings):
    signer = keys.signer_for(dept)
    key = IssuerKey.objects.get(department=dept, status="active")
    private = keys.decrypt_private(key)
    assert private.hex() not in key.encrypted_private_key and private.hex().upper() not in key.encrypted_private_key
    assert signer.key_id == key.key_id and keys.signer_for(dept).key_id == key.key_id  # one key, reused
    # a ciphertext moved to another key id does not decrypt
    moved = IssuerKey(key_id="sm2-0000000000000000", encrypted_private_key=key.encrypted_private_key)
    with pytest.raises(keys.KeyDecryptError):
        keys.decrypt_private(moved)
    settings.TONGBAN_CERT_KEK = "00" * 32
    with pytest.raises(keys.KeyDecryptError, match="无法解密") as exc:
        keys.decrypt_private(key)
    assert exc.value.status == 503
    keys.reset_cache()
    ctype = make_type(dept)
    with pytest.raises(keys.KeyDecryptError):
        issuing.issue(ctype, dept, person(), {"business_scope": "x"})
    assert not Certificate.objects.exists()


def test_kek_setting_encrypts_new_keys_and_ed25519(dept, settings):
    settings.TONGBAN_CERT_KEK = "q" * 43 + "="
    settings.TONGBAN_CERT_SIGNING = "ed25519"
    ctype = make_type(dept)
    cert = issuing.issue(ctype, dept, person(), {"business_scope": "x"})
    assert cert.algorithm == "ed25519" and cert.key_id.startswith("ed25519-") and verifies(cert)
    assert len(keys.decrypt_private(IssuerKey.objects.get(key_id=cert.key_id))) == 32


def test_rotation_keeps_old_signatures_and_revocation_is_stored(dept, staff_factory):
    admin, _ = staff_factory("platform_admin", "000000")
    ctype = make_type(dept)
    first = issuing.issue(ctype, dept, person(), {"business_scope": "x"})
    new_key = keys.rotate(dept, admin)
    old_key = IssuerKey.objects.get(key_id=first.key_id)
    assert old_key.status == "retired" and old_key.retired_at and new_key.status == "active"
    second = issuing.issue(ctype, dept, person(), {"business_scope": "y"})
    assert second.key_id == new_key.key_id != first.key_id
    assert verifies(first) and verifies(second)
    with pytest.raises(DomainError, match="原因"):
        keys.revoke_key(new_key.key_id, admin, "")
    keys.revoke_key(new_key.key_id, admin, "私钥泄露")
    assert IssuerKey.objects.get(key_id=new_key.key_id).status == "revoked"
    with pytest.raises(Conflict):
        keys.revoke_key(new_key.key_id, admin, "again")
    third = issuing.issue(ctype, dept, person(), {"business_scope": "z"})
    assert third.key_id not in (first.key_id, second.key_id)  # a fresh active key after revocation
    assert keys.public_key("nonsense") is None


def signer_from_setting(department):
    """A replacement signer (as a signing server would be): the department's local key under another class."""
    class Remote(keys.DepartmentKeySigner):
        pass

    return Remote(keys.active_key(department))


def test_signer_setting_replaces_the_local_signer(dept, settings):
    settings.TONGBAN_CERT_SIGNER = "tests.test_certificate_issuing.signer_from_setting"
    assert type(keys.signer_for(dept)).__name__ == "Remote"
    cert = issuing.issue(make_type(dept), dept, person(), {"business_scope": "x"})
    assert verifies(cert)


@pytest.mark.parametrize("template", ["licence", "certificate", "proof"])
def test_pdf_renders_every_template_with_identifier(dept, template):
    ctype = make_type(dept, template=template)
    cert = issuing.issue(ctype, dept, person(), {"business_scope": "预包装食品销售（含冷藏冷冻食品）" * 8})
    pdf = rendering.render_pdf(cert)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert rendering.render_pdf(Certificate.objects.get(pk=cert.pk)) == pdf  # invariant
    assert f"({cert.identifier}) Tj" in _pdf_text(pdf)
    blob = rendering.pdf_blob(cert)
    assert Certificate.objects.get(pk=cert.pk).pdf_id == blob.sha256
    assert rendering.pdf_blob(Certificate.objects.get(pk=cert.pk)).sha256 == blob.sha256
    assert CertificateEvent.objects.filter(certificate=cert, action="render").count() == 1


def test_revoked_pdf_carries_watermark(dept, staff_factory):
    approver, _ = staff_factory("approver", "371327", dept)
    cert = issuing.issue(make_type(dept), dept, person(), {"business_scope": "x"})
    before = rendering.pdf_blob(cert)
    issuing.revoke(cert, approver, "违法")
    cert = Certificate.objects.get(pk=cert.pk)
    assert cert.pdf_id is None
    after = rendering.pdf_blob(cert)
    assert after.sha256 != before.sha256 and f"({cert.identifier}) Tj" in _pdf_text(rendering.render_pdf(cert))


def _pdf_text(pdf):
    """The decompressed content streams (the identifier is drawn in a standard font, so it is literal)."""
    from reportlab.lib.rl_accel import asciiBase85Decode

    out = []
    for s in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = s.strip()
        for decode in (lambda b: zlib.decompress(b), lambda b: zlib.decompress(asciiBase85Decode(b.decode("latin-1")))):
            try:
                out.append(decode(raw).decode("latin-1"))
                break
            except (zlib.error, ValueError, AssertionError):
                continue
    return "".join(out)


def test_staff_see_only_their_region_and_department(dept, staff_factory):
    from tongban.core.authz import filter_queryset

    ctype = make_type(dept)
    other_dept = make_department("371302", "兰山区测试局")
    ctype.issuing_departments.add(other_dept)
    mine = issuing.issue(ctype, dept, person(), {"business_scope": "x"})
    theirs = issuing.issue(ctype, other_dept, person(), {"business_scope": "y"})
    approver, _ = staff_factory("approver", "371327", dept)
    county_clerk, _ = staff_factory("clerk", "371327")
    city_supervisor, _ = staff_factory("supervisor", "371300")
    outsider, _ = staff_factory("approver", "371302", other_dept)
    holder = make_applicant("王五")
    qs = Certificate.objects.all()
    assert list(filter_queryset(qs, approver)) == [mine]
    assert list(filter_queryset(qs, county_clerk)) == [mine]
    assert set(filter_queryset(qs, city_supervisor)) == {mine, theirs}
    assert list(filter_queryset(qs, outsider)) == [theirs]
    assert not filter_queryset(qs, holder.user).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuance_gets_unique_serials_and_one_change_wins(reference_data, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL")
    settings.MEDIA_ROOT = tmp_path / "media"
    dept = make_department("371327", "莒南县并发测试局")
    ctype = make_type(dept)
    keys.signer_for(dept)
    results, errors = [], []

    def run(fn):
        try:
            results.append(fn())
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(lambda: issuing.issue(ctype, dept, person(), {"business_scope": "x"}),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({c.serial for c in results}) == 8 and len({c.identifier for c in results}) == 8
    target = results[0]
    results.clear()
    from django.contrib.auth import get_user_model

    from tests.conftest import make_staff

    approver = make_staff("race_approver", "approver", "371327", dept)
    approver = get_user_model().objects.get(pk=approver.pk)
    threads = [threading.Thread(target=run, args=(lambda i=i: issuing.change(target, {"business_scope": f"v{i}"}, get_user_model().objects.get(pk=approver.pk), "变更"),))
               for i in range(4)]
    threads += [threading.Thread(target=run, args=(lambda: issuing.revoke(target, get_user_model().objects.get(pk=approver.pk), "吊销"),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 4 and all(isinstance(e, Conflict) for e in errors)
    assert Certificate.objects.filter(serial=target.serial, type=ctype, status="valid").count() == (1 if results[0].version == 2 else 0)


def test_key_command_lists_rotates_and_revokes(dept):
    from io import StringIO

    from django.core.management import CommandError, call_command

    keys.signer_for(dept)
    old = IssuerKey.objects.get(department=dept)
    out = StringIO()
    call_command("certificate_keys", "rotate", department=dept.credit_code, stdout=out)
    assert IssuerKey.objects.get(pk=old.pk).status == "retired" and "新签名密钥" in out.getvalue()
    call_command("certificate_keys", "list", department=dept.credit_code, stdout=out)
    assert old.key_id in out.getvalue()
    with pytest.raises(CommandError, match="原因"):
        call_command("certificate_keys", "revoke", key_id=old.key_id)
    call_command("certificate_keys", "revoke", key_id=old.key_id, reason="私钥泄露", stdout=out)
    assert IssuerKey.objects.get(pk=old.pk).status == "revoked"
    with pytest.raises(CommandError, match="未找到"):
        call_command("certificate_keys", "rotate", department="X")


def test_conclusion_waits_when_the_department_is_not_an_issuer(case_world):
    w = case_world()
    w.version.certificate_type = make_type(make_department("371327", "莒南县别的局"), fields=[])
    w.version.save()
    case = w.act(w.act(w.submitted_case(), "accept"), "approve", w.approver, "符合条件")
    with pytest.raises(DomainError, match="不是“.*”的发证部门") as exc:
        w.act(case, "conclude", w.approver)
    assert exc.value.status == 409
    case.refresh_from_db()
    assert case.status == S.APPROVED and not Certificate.objects.exists()

"""The access log: its chain verifies and finds a row changed behind the application's back (the
database trigger is lifted inside the test to simulate tampering), the command exits non-zero then,
the holder sees their own log and consents, and supervisors read their region's rows, masked."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from tests.test_sharing_consent import world  # noqa: F401  (fixture)


def _use_once(s):
    from tongban.sharing import consent, using

    return using.attach(s.applicant, s.case, consent.give(s.applicant, s.case, s.material, s.certificate, ""))


def _lift_trigger():
    """Someone with the database owner's rights, inside the test's transaction (rolled back after it)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL session_replication_role = replica")  # row triggers do not fire
        else:
            cur.execute("DROP TRIGGER IF EXISTS sharing_accesslog_no_update")


@pytest.mark.django_db
def test_chain_verifies_and_detects_tampering(world):  # noqa: F811
    from tongban.sharing import access_log
    from tongban.sharing.models import AccessLog

    s = world()
    _use_once(s)
    rows = list(AccessLog.objects.order_by("seq"))
    assert len(rows) >= 2 and access_log.verify() is None
    out = io.StringIO()
    call_command("verify_access_log", stdout=out)
    assert "完整" in out.getvalue()
    # The database refuses changes.
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE sharing_accesslog SET purpose = 'x'")
    victim = rows[0]
    _lift_trigger()
    with connection.cursor() as cur:
        cur.execute("UPDATE sharing_accesslog SET purpose = %s WHERE id = %s", ["篡改后的用途", victim.pk])
    broken = access_log.verify()
    assert broken is not None and broken.seq == victim.seq
    with pytest.raises(CommandError) as exc:
        call_command("verify_access_log", stdout=io.StringIO())
    assert str(victim.seq) in str(exc.value)


@pytest.mark.django_db
def test_chain_detects_removed_row(world):  # noqa: F811
    from tongban.sharing import access_log
    from tongban.sharing.models import AccessLog

    s = world()
    _use_once(s)
    first, second = list(AccessLog.objects.order_by("seq"))[:2]
    rows = [r for r in AccessLog.objects.order_by("seq") if r.pk != first.pk]  # a row missing from the chain
    assert access_log.verify(rows).seq == second.seq


@pytest.mark.django_db
def test_holder_sees_own_log_and_withdraws_consent(world):  # noqa: F811
    from tongban.sharing import consent
    from tongban.sharing.models import Consent

    s = world()
    _use_once(s)
    c2 = consent.give(s.applicant, s.case, s.material, s.certificate, "")
    page = s.client.get("/my/evidence/")
    body = page.content.decode()
    assert page.status_code == 200 and "用于申请" in body and s.certificate.identifier in body and "撤回授权" in body
    assert s.applicant.id_number not in body
    r = s.client.post(f"/my/evidence/consents/{c2.pk}/withdraw/")
    assert r.status_code == 302
    c2.refresh_from_db()
    assert c2.status == Consent.WITHDRAWN
    assert s.client.post(f"/my/evidence/consents/{c2.pk}/withdraw/").status_code == 409  # withdrawn already
    # Someone else's consent: 404; their log does not show this holder's rows.
    from tests.conftest import applicant_client, make_applicant

    other = applicant_client(make_applicant("赵六"))
    assert other.post(f"/my/evidence/consents/{c2.pk}/withdraw/").status_code == 404
    assert s.certificate.identifier not in other.get("/my/evidence/").content.decode()
    assert s.client.get("/my/evidence/?script=hant").status_code == 200
    assert s.client.post("/my/evidence/consents/abc/withdraw/").status_code == 404


@pytest.mark.django_db
def test_supervisor_log_page_region_and_masking(world, staff_factory):  # noqa: F811
    s = world()
    _use_once(s)
    sup, client = staff_factory("supervisor", "110000")  # the issuer's region: the data comes from there
    page = client.get("/workbench/sharing/log/")
    body = page.content.decode()
    assert page.status_code == 200 and "校验日志链：完整" in body and s.certificate.identifier in body
    assert s.applicant.id_number not in body and s.applicant.id_number[:6] in body
    assert client.get("/workbench/sharing/log/?action=use&outcome=granted&page=x").status_code == 200
    far, far_client = staff_factory("supervisor", "330000")
    assert s.certificate.identifier not in far_client.get("/workbench/sharing/log/").content.decode()
    assert s.w.clerk_client.get("/workbench/sharing/log/").status_code == 403

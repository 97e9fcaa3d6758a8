"""窗口综合受理 of a new 一件事: the lead place's window clerk applies for the demo 新生儿出生 on behalf of an
applicant (identified as the 异地代收 window does) — one bundle case on channel "window" with every child
submitted and each material stored once; a double submit makes one; a clerk of another place is refused
and nothing is written; a missing required material is a Chinese 422 and nothing is written; a queue
ticket is linked after submission; Traditional Chinese and elder mode."""

import re

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from tests.conftest import PDF_BYTES, make_id_number, make_staff, upload, verified_client
from tongban.applicants.models import Applicant
from tongban.bundles import merging
from tongban.bundles.models import BundleCase, BundleEvent, BundleStatus, BundleVersion
from tongban.cases.models import Case, CaseMaterial
from tongban.cases.models import Status as S
from tongban.core.models import StoredBlob
from tongban.directory.models import Department, Hall, Membership, Region, Window
from tongban.queueing import services as queueing
from tongban.queueing.models import TicketLog, TicketStatus

pytestmark = pytest.mark.django_db

NEWBORN = "新生儿出生"
CHOOSE = "/workbench/bundles/window/"


# --- the demo bundles (loaded once for this module, rolled back at its end) -------------------------

@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from tongban.demo.loader import load_demo

    media = tmp_path_factory.mktemp("bundle_window_media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            load_demo()
            yield media
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def newborn(demo):
    return BundleVersion.objects.select_related("bundle", "lead_department__region").get(
        bundle__code__startswith="371327YJS", name=NEWBORN, status=BundleVersion.PUBLISHED)


_n = [0]


def _clerk(region_code="371327", department=None, window=None):
    _n[0] += 1
    user = make_staff(f"window_clerk_{_n[0]}", "clerk", region_code, department)
    if window is not None:
        Membership.objects.filter(user=user).update(window=window)
    return user, verified_client(user)


def _apply_url(version):
    return reverse("bundle_window:apply", args=[version.bundle.code])


def _person(name="李新民"):
    return {"kind": "natural", "name": name, "id_number": make_id_number("371327", "19920304"), "phone": "13905390001"}


def _value(f):
    """A valid value of a merged field as a clerk would type it."""
    kind = f["type"]
    if kind == "choice":
        return f["choices"][0]
    if kind == "id_number":
        return make_id_number("371327", "19930101")
    if kind == "phone":
        return "13905390002"
    if kind == "date":
        return "2026-01-05"
    if kind == "number":
        return "1"
    if kind == "credit_code":
        from tongban.core.codes import make_uscc

        return make_uscc("11", "371327", "00000001")
    if kind == "address":
        return "山东省临沂市莒南县十字路街道人民路1号"
    return f"{f['label']}内容"[: int(f.get("max_length") or 40)]


def _form(version, person):
    """Every merged field (identity fields as the applicant's own)."""
    own = {"applicant_name": person["name"], "id_number": person["id_number"], "phone": person["phone"]}
    data = {}
    for f in merging.validation_fields(version):
        data[f"f_{f['key']}"] = own.get(f.get("meaning") or f["key"]) or _value(f)
    return data


def _uploads(version, skip=()):
    return {f"material_{g['key']}": upload(f"{g['name']}.pdf", PDF_BYTES + g["name"].encode())
            for g in version.material_groups if g["key"] not in skip}


def _token(html):
    return re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)


def _identified(client, version, person, ticket=None):
    """The identify step: the page of the one application, with its token."""
    data = {"action": "identify", **person}
    if ticket is not None:
        data["ticket"] = ticket.pk
    response = client.post(_apply_url(version), data)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def _submission(version, person, token, skip=(), ticket=None, **over):
    data = {"action": "submit", "token": token, **person, **_form(version, person), **_uploads(version, skip),
            "delivery_method": "pickup", "delivery_address": ""}
    if ticket is not None:
        data["ticket"] = ticket.pk
    data.update(over)
    return data


def _required_groups(version):
    return [g for g in version.material_groups if g["necessity"] == "required" and not g.get("deferrable")]


def _counts():
    return (BundleCase.objects.count(), Case.objects.count(), CaseMaterial.objects.count(), StoredBlob.objects.count(),
            Applicant.objects.count(), BundleEvent.objects.count())


# --- the window applies -----------------------------------------------------------------------------

def test_clerk_of_the_lead_place_applies_for_a_new_applicant_once(newborn):
    clerk, client = _clerk()
    person = _person()
    # Page 1 lists the bundle; choosing it leads to page 2.
    page = client.get(CHOOSE)
    assert page.status_code == 200 and NEWBORN in page.content.decode() and "窗口受理一件事" in page.content.decode()
    chosen = client.get(CHOOSE, {"code": newborn.bundle.code})
    assert chosen.status_code == 302 and chosen["Location"] == _apply_url(newborn)
    first = client.get(_apply_url(newborn))
    assert first.status_code == 200 and "核验申请人" in first.content.decode()

    before = _counts()
    html = _identified(client, newborn, person)
    # Identified, not yet registered: the applicant is created only with the application.
    assert _counts() == before
    assert "尚未在平台登记" in html and person["name"] in html
    # The one form: each merged field once, identity prefilled; the one material list, each group once.
    for f in merging.validation_fields(newborn):
        assert html.count(f'name="f_{f["key"]}"') == 1, f["key"]
    assert f'value="{person["id_number"]}"' in html and "已预填" in html
    for g in newborn.material_groups:
        assert html.count(f'name="material_{g["key"]}"') == 1
    assert re.search(r'<option value="pickup" selected>', html)
    token = _token(html)

    response = client.post(_apply_url(newborn), _submission(newborn, person, token))
    assert response.status_code == 302, response.content.decode()[:3000]
    parent = BundleCase.objects.get(submit_token=token)
    assert response["Location"] == reverse("bundle_workbench:detail", args=[parent.pk])
    # A double submit of the same page: the same bundle case, nothing new.
    after = _counts()
    again = client.post(_apply_url(newborn), _submission(newborn, person, token))
    assert again.status_code == 302 and again["Location"] == response["Location"]
    assert _counts() == after
    # The spent page sent back for someone else is refused, not their case.
    clash = client.post(_apply_url(newborn), _submission(newborn, _person("另一位"), token))
    assert clash.status_code == 409 and "重新打开受理页面" in clash.content.decode()
    assert _counts() == after

    applicant = Applicant.objects.get(kind="natural", id_number=person["id_number"])
    assert parent.applicant == applicant and applicant.name == person["name"] and applicant.user_id != clerk.pk
    assert parent.channel == "window" and parent.status == BundleStatus.SUBMITTED and parent.case_no
    assert parent.lead_department_id == newborn.lead_department_id and parent.delivery_method == "pickup"
    children = list(Case.objects.filter(bundle_case=parent).select_related("item_version").order_by("bundle_entry__seq"))
    assert len(children) == newborn.entries.count() == 5
    assert {c.status for c in children} == {S.SUBMITTED} and {c.channel for c in children} == {"window"}
    assert all(c.case_no and c.mode == "bundle" for c in children)
    # One set of materials: each group scanned once, stored once, handed to every item needing it.
    assert after[3] - before[3] == len(newborn.material_groups)
    rows = CaseMaterial.objects.filter(case__in=children)
    assert {m.how for m in rows} == {"window"}
    shared = next(g for g in newborn.material_groups if len(g["entry_ids"]) > 1)
    shared_rows = rows.filter(name=shared["name"])
    assert shared_rows.count() == len(shared["entry_ids"]) and len({m.blob_id for m in shared_rows}) == 1
    # Submitted by the window clerk, on the record.
    event = BundleEvent.objects.get(bundle_case=parent, action="submit")
    assert event.role == "clerk" and event.actor_id == clerk.pk
    # The coordinator's page of the new case opens for the clerk (综合受理 continues there).
    detail = client.get(response["Location"])
    assert detail.status_code == 200 and parent.case_no in detail.content.decode()


def test_a_known_applicant_is_found_and_the_form_prefilled_from_earlier(newborn):
    _clerk_user, client = _clerk()
    person = _person("赵明远")
    html = _identified(client, newborn, person)
    response = client.post(_apply_url(newborn), _submission(newborn, person, _token(html), f_baby_name="赵小满"))
    assert response.status_code == 302
    applicants = Applicant.objects.count()
    html = _identified(client, newborn, {**person, "phone": "13905390009"})
    assert Applicant.objects.count() == applicants and "已在平台登记的申请人" in html
    assert 'value="赵小满"' in html  # 一次提交、多次复用
    second = client.post(_apply_url(newborn), _submission(newborn, person, _token(html)))
    assert second.status_code == 302 and BundleCase.objects.filter(applicant__id_number=person["id_number"]).count() == 2


# --- refusals -------------------------------------------------------------------------------------

def test_a_clerk_of_another_place_is_refused_and_nothing_is_written(newborn):
    person = _person("钱多多")
    other_county, other_client = _clerk("371302")
    lead = newborn.lead_department
    other_dept = Department.objects.filter(region=lead.region).exclude(pk=lead.pk).first()
    _other_dept_clerk, other_dept_client = _clerk("371327", other_dept)
    own_clerk, own_client = _clerk()
    token = _token(_identified(own_client, newborn, person))
    before = _counts()
    for client in (other_client, other_dept_client):
        assert NEWBORN not in client.get(CHOOSE).content.decode()
        assert client.get(_apply_url(newborn)).status_code == 404
        assert client.get(CHOOSE, {"code": newborn.bundle.code}).status_code == 422
        assert client.post(_apply_url(newborn), {"action": "identify", **person}).status_code == 404
        response = client.post(_apply_url(newborn), _submission(newborn, person, token))
        assert response.status_code == 404 and "窗口受理范围" in response.content.decode()
    assert _counts() == before
    # An approver of the lead place is no window clerk either.
    approver = make_staff("window_approver", "approver", "371327")
    response = verified_client(approver).get(CHOOSE)
    assert response.status_code == 403 and "窗口受理人员" in response.content.decode()
    # Staff pages need a verified session.
    from django.test import Client

    anonymous = Client().get(_apply_url(newborn))
    assert anonymous.status_code == 302 and "/staff/" in anonymous["Location"]


def test_a_missing_required_material_is_a_chinese_422_and_nothing_is_written(newborn):
    _clerk_user, client = _clerk()
    person = _person("孙晓燕")
    token = _token(_identified(client, newborn, person))
    missing = _required_groups(newborn)[0]
    before = _counts()
    response = client.post(_apply_url(newborn), _submission(newborn, person, token, skip=[missing["key"]], f_baby_name="孙小禾"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "请上传必要材料" in html and missing["name"] in html and 'class="field-msg"' in html
    # What was typed is kept (the identity in the page, the form values), with a fresh chance to submit.
    assert 'value="孙小禾"' in html and f'value="{person["id_number"]}"' in html and _token(html) == token
    assert _counts() == before and not Applicant.objects.filter(id_number=person["id_number"]).exists()
    # The same page, now complete, goes through.
    response = client.post(_apply_url(newborn), _submission(newborn, person, token))
    assert response.status_code == 302 and BundleCase.objects.filter(submit_token=token).count() == 1


def test_bad_identity_and_bad_form_input_are_chinese_4xx(newborn):
    _clerk_user, client = _clerk()
    before = _counts()
    bad = {**_person(), "id_number": "37132719920304"}
    response = client.post(_apply_url(newborn), {"action": "identify", **bad})
    assert response.status_code == 422 and "公民身份号码" in response.content.decode() and 'id="id-number-err"' in response.content.decode()
    person = _person("周一鸣")
    token = _token(_identified(client, newborn, person))
    field = next(f for f in merging.validation_fields(newborn) if f["type"] == "date")
    response = client.post(_apply_url(newborn), _submission(newborn, person, token, **{f"f_{field['key']}": "2026-13-45"}))
    assert response.status_code == 422 and "申请表填写有误" in response.content.decode()
    response = client.post(_apply_url(newborn), _submission(newborn, person, "", delivery_method="nowhere"))
    assert response.status_code in (400, 422) and "受理页面" in response.content.decode()
    response = client.post(_apply_url(newborn), {"action": "nonsense", **person})
    assert response.status_code == 400
    assert client.get(reverse("bundle_window:apply", args=["NO-SUCH"])).status_code == 404
    assert client.get(CHOOSE, {"ticket": "abc"}).status_code == 404
    assert _counts() == before


# --- 主题叫号 -------------------------------------------------------------------------------------

def _hall():
    hall = Hall.objects.create(name="莒南县窗口受理测试大厅", kind=Hall.COUNTY_HALL, region=Region.objects.get(code="371327"), address="测试地址")
    return hall, Window.objects.create(hall=hall, number="31", name="综合受理窗口", kind="general"), \
        Window.objects.create(hall=hall, number="32", name="综合受理窗口", kind="general")


def test_a_called_ticket_is_linked_to_the_new_bundle_case(newborn):
    hall, window, other_window = _hall()
    clerk, client = _clerk(window=window)
    _other, other_client = _clerk(window=other_window)
    ticket = queueing.take_ticket(hall, bundle=newborn.bundle, phone="13905390001", token="windowtest-ticket-1")
    assert queueing.call_next(clerk, window).pk == ticket.pk
    # The call-next screen offers the window application for the ticket.
    screen = client.get(reverse("queueing:window")).content.decode()
    assert f"{CHOOSE}?ticket={ticket.pk}" in screen and "窗口受理一件事" in screen
    # The ticket's bundle is preselected; another window's clerk cannot use the ticket.
    page = client.get(CHOOSE, {"ticket": ticket.pk}).content.decode()
    assert re.search(rf'value="{newborn.bundle.code}" checked', page) and ticket.number in page
    assert other_client.get(CHOOSE, {"ticket": ticket.pk}).status_code == 403
    chosen = client.get(CHOOSE, {"code": newborn.bundle.code, "ticket": ticket.pk})
    assert chosen["Location"] == f"{_apply_url(newborn)}?ticket={ticket.pk}"

    person = _person("吴家宝")
    html = _identified(client, newborn, person, ticket=ticket)
    assert f'name="ticket" value="{ticket.pk}"' in html
    response = client.post(_apply_url(newborn), _submission(newborn, person, _token(html), ticket=ticket))
    assert response.status_code == 302
    parent = BundleCase.objects.get(applicant__id_number=person["id_number"])
    ticket.refresh_from_db()
    assert ticket.bundle_case_id == parent.pk and ticket.status == TicketStatus.SERVING
    assert TicketLog.objects.filter(ticket=ticket, action="start", note__contains=parent.case_no).exists()
    # The ticket now has its case: it cannot start a second one.
    again = client.get(CHOOSE, {"ticket": ticket.pk})
    assert again.status_code == 409 and parent.case_no in again.content.decode()


def test_a_serving_ticket_is_linked_and_a_ticket_of_another_bundle_refused(newborn):
    hall, window, _other_window = _hall()
    clerk, client = _clerk(window=window)
    food = BundleVersion.objects.get(bundle__code__startswith="371327YJS", name="开办餐饮店", status=BundleVersion.PUBLISHED)
    ticket = queueing.take_ticket(hall, bundle=food.bundle, token="windowtest-ticket-2")
    queueing.call_next(clerk, window)
    queueing.start(clerk, ticket.pk)
    person = _person("郑好")
    before = _counts()
    response = client.post(_apply_url(newborn), _submission(newborn, person, "0" * 32, ticket=ticket))
    html = response.content.decode()
    assert response.status_code == 422 and "开办餐饮店" in html
    assert "不关联叫号" in html and 'name="action"' not in html  # no form that would silently drop the ticket
    assert _counts() == before
    # A ticket taken for a theme only may be used for any bundle of the clerk's place.
    queueing.finish(clerk, ticket.pk)
    themed = queueing.take_ticket(hall, theme="personal", token="windowtest-ticket-3")
    queueing.call_next(clerk, window)
    queueing.start(clerk, themed.pk)
    html = _identified(client, newborn, person, ticket=themed)
    response = client.post(_apply_url(newborn), _submission(newborn, person, _token(html), ticket=themed))
    assert response.status_code == 302
    themed.refresh_from_db()
    assert themed.bundle_case.applicant.id_number == person["id_number"]
    assert TicketLog.objects.filter(ticket=themed, action="link").exists()


# --- Traditional Chinese and elder mode ----------------------------------------------------------------

def test_traditional_chinese_and_elder_mode(newborn):
    _clerk_user, client = _clerk()
    client.cookies["tb_script"] = "hant"
    html = client.get(CHOOSE).content.decode()
    assert "選擇一件事" in html and "窗口受理" in html
    html = _identified(client, newborn, _person("冯乐"))
    assert "一張申請表" in html and "接收部門" in html
    client.cookies["tb_script"] = "hans"
    client.cookies["tb_elder"] = "1"
    html = client.get(_apply_url(newborn)).content.decode()
    assert re.search(r'<body class="elder', html) and "核验申请人" in html

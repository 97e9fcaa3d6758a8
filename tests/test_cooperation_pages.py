"""The guide page's 通办方式与可办理地点 section, and the demo's cooperation data (演示数据)."""

import datetime

import pytest
from django.db import transaction
from django.test import override_settings

from tests.conftest import make_department, make_implementation, make_item
from tongban.cooperation.models import Agreement, Liaison
from tongban.cooperation.receiving import partner_regions_of, receiving_decision
from tongban.directory.models import Region


@pytest.mark.django_db
def test_guide_page_shows_ways_and_places(client, settings, tmp_path, django_assert_max_num_queries):
    settings.MEDIA_ROOT = tmp_path
    police = make_department("371327", "莒南县公安局")
    item = make_item("户口迁移", "002000100000")
    impl = make_implementation(item, police, modes=("online", "proxy"), scopes=("province_wide",))
    others = [make_implementation(item, make_department(code, f"{code}公安局"), modes=("proxy",), scopes=("cross_province",))
              for code in ("320302", "370102", "440305")]
    Agreement.objects.create(
        name="莒南县—徐州市合作协议", party_a=Region.objects.get(code="371327"), party_b=Region.objects.get(code="320300"),
        signed_on=datetime.date(2023, 1, 1), valid_from=datetime.date(2023, 1, 1), all_items=True,
    )
    html = client.get(f"/guide/{impl.implementation_code}/").content.decode()
    assert ">通办方式与可办理地点</h2>" in html
    assert "本地办理（山东省 临沂市 莒南县 · 莒南县公安局）" in html
    assert "异地代收代办</strong>：山东省内任一政务服务大厅" in html
    assert "合作地区：江苏省 徐州市" in html and "莒南县—徐州市合作协议" in html
    assert "全国任一设有跨省通办专窗的政务服务大厅" in html  # the other places shown on the page
    assert f'href="/guide/{others[0].implementation_code}/"' in html
    assert 'href="/cooperation/"' in html
    # more places on the page do not add queries per place
    with django_assert_max_num_queries(40) as few:
        client.get(f"/guide/{impl.implementation_code}/")
    for code in ("330102", "320102", "110101", "500101"):
        make_implementation(item, make_department(code, f"{code}公安局"), modes=("proxy",), scopes=("regional",))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(f"/guide/{impl.implementation_code}/").status_code == 200


# ---- demo ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from tongban.demo.loader import load_demo

    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("demo_media"))):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield load_demo()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.mark.django_db
def test_demo_agreements_liaisons_and_proxy_for_junan(demo):
    from tongban.catalog.models import Implementation

    assert demo["created"]["通办合作协议"] == Agreement.objects.filter(note__contains="演示数据").count() == 5
    assert all("演示" in li.name and li.note == "演示" for li in Liaison.objects.all())
    # 一地签约、全市共享: 路桥区 signed with 通化市, so 椒江区 (the same 台州市) has 通化 as a partner too
    partners = {row["region"].code for row in partner_regions_of(Region.objects.get(code="331002"))}
    assert {"511300", "220500", "659002"} <= partners
    junan = Region.objects.get(code="371327")
    assert {"320300", "310000"} <= {row["region"].code for row in partner_regions_of(junan)}
    # the demo clerk at 莒南县 may receive 户口迁移 for 鄂尔多斯市公安局 (the demo approver's department)
    impl = Implementation.objects.select_related("region").get(implementation_code="11150600MB0431014H3000710014000")
    decision = receiving_decision(impl, junan)
    assert decision.allowed and decision.basis == "跨省通办（全国范围）"
    from tongban.demo.loader import load_demo

    assert "通办合作协议" not in load_demo()["created"]  # idempotent

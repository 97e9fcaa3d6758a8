"""通办合作: the receiving rules (scopes, 县域内纵向代收代办, agreements with 一地签约、全市共享), the
partner directory, agreements' and liaisons' services and authorisation."""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser

from tests.conftest import make_department, make_implementation, make_item
from tongban.cooperation import services
from tongban.cooperation.models import Agreement, Liaison
from tongban.cooperation.receiving import (
    Decision,
    city_of,
    partner_regions_of,
    receivable_summaries,
    receivable_summary,
    receiving_decision,
    regions_on_paths,
)
from tongban.core.authz import PermissionDenied, filter_queryset
from tongban.core.errors import DomainError
from tongban.directory.models import Region

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 1)


def region(code):
    return Region.objects.get(code=code)


@pytest.fixture
def junan_police():
    return make_department("371327", "莒南县公安局")


_codes = iter(range(100, 999))


def impl_at(dept, modes=("online", "proxy"), scopes=("province_wide",), partners=()):
    item = make_item(f"测试事项{next(_codes)}", f"0020001{next(_codes):03d}00")
    impl = make_implementation(item, dept, modes=modes, scopes=scopes)
    impl.partner_regions.set([region(c) for c in partners])
    return impl


def agreement(a, b, *, city_shared=True, all_items=True, items=(), status=Agreement.ACTIVE, valid_from=datetime.date(2023, 1, 1),
              valid_until=None, name=None, document_no="测〔2023〕1号"):
    ag = Agreement.objects.create(
        name=name or f"{region(a).name}—{region(b).name}通办合作协议", document_no=document_no, party_a=region(a), party_b=region(b),
        signed_on=valid_from, valid_from=valid_from, valid_until=valid_until, all_items=all_items, city_shared=city_shared, status=status,
    )
    ag.items.set(items)
    return ag


# ---- modes and the competent place's own subtree ------------------------------------------------


def test_no_proxy_or_joint_mode_is_refused(junan_police):
    impl = impl_at(junan_police, modes=("online",), scopes=("cross_province",))
    d = receiving_decision(impl, region("320300"), on=TODAY)
    assert d == Decision(False, "该事项在莒南县不支持异地代收代办或多地联办，请通过全程网办或到办理地窗口办理", "")


def test_inactive_implementation_is_refused(junan_police):
    impl = impl_at(junan_police, scopes=("cross_province",))
    impl.is_active = False
    d = receiving_decision(impl, region("371327"), on=TODAY)
    assert not d.allowed and "已停用" in d.reason


def test_township_and_county_itself_receive_vertically(junan_police):
    impl = impl_at(junan_police, scopes=())  # no 通办 scope at all: the county's own centres still forward
    township = Region.objects.filter(parent__code="371327", level=Region.TOWNSHIP).first()
    for place in (township, region("371327")):
        d = receiving_decision(impl, place, on=TODAY)
        assert d.allowed and d.basis == "县域内纵向代收代办", place
    # a township of another county is not vertical
    other = Region.objects.filter(parent__code="371324", level=Region.TOWNSHIP).first()
    assert not receiving_decision(impl, other, on=TODAY).allowed


def test_joint_mode_alone_is_enough(junan_police):
    impl = impl_at(junan_police, modes=("joint",), scopes=("cross_province",))
    assert receiving_decision(impl, region("440305"), on=TODAY).allowed


# ---- scopes ------------------------------------------------------------------------------------


def test_cross_province_allows_anywhere(junan_police):
    impl = impl_at(junan_police, scopes=("cross_province",))
    for code in ("320300", "653101", "370102"):
        d = receiving_decision(impl, region(code), on=TODAY)
        assert d.allowed and d.basis == "跨省通办（全国范围）"


def test_province_wide(junan_police):
    impl = impl_at(junan_police, scopes=("province_wide",))
    d = receiving_decision(impl, region("370102"), on=TODAY)
    assert d.allowed and d.basis == "全省通办（山东省）"
    d = receiving_decision(impl, region("320300"), on=TODAY)
    assert not d.allowed and d.basis == ""
    assert d.reason == "收件地“徐州市”不在该事项的通办范围（全省通办：山东省）内，且两地没有有效的跨省通办合作协议"


def test_city_wide_across_levels(junan_police):
    impl = impl_at(junan_police, scopes=("city_wide",))
    for code in ("371324", "371300", "371302"):
        d = receiving_decision(impl, region(code), on=TODAY)
        assert d.allowed and d.basis == "全市通办（临沂市）", code
    township = Region.objects.filter(parent__code="371324", level=Region.TOWNSHIP).first()
    assert receiving_decision(impl, township, on=TODAY).allowed
    d = receiving_decision(impl, region("370102"), on=TODAY)
    assert not d.allowed
    assert d.reason == "收件地“历下区”不在该事项的通办范围（全市通办：临沂市）内，且两地没有有效的通办合作协议"


def test_city_wide_of_a_city_level_implementation():
    linyi = make_department("371300", "临沂市市场监督管理局")
    impl = impl_at(linyi, scopes=("city_wide",))
    # 兰陵县 is inside 临沂市's own subtree: vertical; 济南 is outside the city
    assert receiving_decision(impl, region("371324"), on=TODAY).allowed
    assert not receiving_decision(impl, region("370102"), on=TODAY).allowed


def test_regional_names_the_partner_set(junan_police):
    impl = impl_at(junan_police, scopes=("regional",), partners=("320300", "321300"))
    d = receiving_decision(impl, region("320312"), on=TODAY)  # 铜山区, inside partner 徐州市
    assert d.allowed and d.basis == "区域通办（莒南县、徐州市、宿迁市）"
    d = receiving_decision(impl, region("370102"), on=TODAY)
    assert not d.allowed and "区域通办：莒南县、徐州市、宿迁市" in d.reason


def test_no_scope_no_agreement_reason(junan_police):
    impl = impl_at(junan_police, scopes=())
    d = receiving_decision(impl, region("320300"), on=TODAY)
    assert not d.allowed
    assert d.reason == "该事项在莒南县未列入通办范围，且收件地“徐州市”与办理地“莒南县”没有有效的跨省通办合作协议"


# ---- agreements ----------------------------------------------------------------------------------


def test_agreement_allows_both_directions(junan_police):
    impl = impl_at(junan_police, scopes=("province_wide",))
    ag = agreement("371327", "320300", name="莒南县—徐州市淮海经济区通办合作协议")
    for code in ("320300", "320312"):
        d = receiving_decision(impl, region(code), on=TODAY)
        assert d.allowed, code
        assert d.basis == "合作协议《莒南县—徐州市淮海经济区通办合作协议》（文号测〔2023〕1号，一地签约、全市共享）"
    # the other direction: competent in 徐州, received in 莒南
    xuzhou = make_department("320300", "徐州市公安局")
    impl_x = impl_at(xuzhou, scopes=("province_wide",))
    assert receiving_decision(impl_x, region("371327"), on=TODAY).basis.startswith(f"合作协议《{ag.name}》")


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"valid_until": datetime.date(2026, 5, 31)}, "已于2026年05月31日到期"),
        ({"status": Agreement.TERMINATED}, "已终止"),
        ({"valid_from": datetime.date(2026, 7, 1)}, "自2026年07月01日起生效"),
        ({"all_items": False}, "不含该事项"),
    ],
)
def test_agreement_not_valid_or_not_covering(junan_police, kwargs, why):
    impl = impl_at(junan_police, scopes=("province_wide",))
    if not kwargs.get("all_items", True):
        kwargs["items"] = [make_item("其他事项", "002000199900")]
    agreement("371327", "320300", name="测试协议", **kwargs)
    d = receiving_decision(impl, region("320300"), on=TODAY)
    assert not d.allowed
    assert "没有有效的跨省通办合作协议" in d.reason and why in d.reason and "测试协议" in d.reason


def test_agreement_listing_the_item_and_open_ended_or_in_range(junan_police):
    impl = impl_at(junan_police, scopes=())
    agreement("371327", "320300", all_items=False, items=[impl.item], valid_until=datetime.date(2026, 12, 31))
    assert receiving_decision(impl, region("320300"), on=TODAY).allowed
    assert receiving_decision(impl, region("320300"), on=datetime.date(2026, 12, 31)).allowed
    assert not receiving_decision(impl, region("320300"), on=datetime.date(2027, 1, 1)).allowed
    assert not receiving_decision(impl, region("320300"), on=datetime.date(2022, 12, 31)).allowed


def test_one_place_signs_the_whole_city_shares(junan_police):
    """一地签约、全市共享: 兰陵县 (临沂) signed with 铜山区 (徐州); 莒南县 and 鼓楼区 are bound too."""
    impl = impl_at(junan_police, scopes=())
    agreement("371324", "320312", city_shared=True)
    d = receiving_decision(impl, region("320302"), on=TODAY)
    assert d.allowed and "一地签约、全市共享" in d.basis
    gulou = make_department("320302", "徐州市鼓楼区行政审批局")
    assert receiving_decision(impl_at(gulou, scopes=()), region("371327"), on=TODAY).allowed
    # a township of 莒南 receiving for 鼓楼区 is bound too
    township = Region.objects.filter(parent__code="371327", level=Region.TOWNSHIP).first()
    assert receiving_decision(impl_at(gulou, scopes=()), township, on=TODAY).allowed


def test_without_city_sharing_only_the_signatories_are_bound(junan_police):
    impl = impl_at(junan_police, scopes=())
    agreement("371324", "320312", city_shared=False)
    d = receiving_decision(impl, region("320302"), on=TODAY)
    assert not d.allowed and "没有有效的跨省通办合作协议" in d.reason
    lanling = make_department("371324", "兰陵县公安局")
    assert receiving_decision(impl_at(lanling, scopes=()), region("320312"), on=TODAY).allowed
    assert not receiving_decision(impl_at(lanling, scopes=()), region("320302"), on=TODAY).allowed


def test_municipality_and_province_direct_county_city():
    ancestors = regions_on_paths([region("310117"), region("659002"), region("371327")])
    assert city_of(region("310117"), ancestors).code == "310000"  # 上海市松江区 → 上海市
    assert city_of(region("659002"), ancestors).code == "659002"  # 阿拉尔市 is its own city
    assert city_of(region("371327"), ancestors).code == "371300"
    dept = make_department("371327", "莒南县人社局")
    impl = impl_at(dept, scopes=())
    agreement("371327", "310117")
    assert receiving_decision(impl, region("310101"), on=TODAY).allowed  # 黄浦区, same 上海市


def test_decision_is_a_few_queries(junan_police, django_assert_max_num_queries):
    impl = impl_at(junan_police, scopes=("province_wide", "regional"), partners=("321300",))
    agreement("371324", "320312")
    impl = type(impl).objects.select_related("region").get(pk=impl.pk)
    target = region("320302")
    with django_assert_max_num_queries(4):
        assert receiving_decision(impl, target, on=TODAY).allowed


# ---- summaries and partners --------------------------------------------------------------------


def test_receivable_summary_lists_modes_and_places(junan_police):
    impl = impl_at(junan_police, modes=("online", "proxy"), scopes=("province_wide",))
    agreement("371324", "320312", name="兰陵—铜山协议")
    rows = receivable_summary(impl, on=TODAY)
    text = " ".join(f"{r['mode']}：{r['where']}（{r['basis']}）" for r in rows)
    assert "全程网办" in text and "异地代收代办：山东省内" in text and "全省通办（山东省）" in text
    assert "合作地区：江苏省 徐州市全域（由铜山区签约，一地签约、全市共享）" in text and "《兰陵—铜山协议》" in text
    assert "县域内纵向代收代办" in text
    cross = impl_at(junan_police, modes=("proxy",), scopes=("cross_province",))
    assert receivable_summary(cross, on=TODAY)[0]["where"].startswith("全国任一")
    online_only = impl_at(junan_police, modes=("online",), scopes=("cross_province",))
    assert [r["mode"] for r in receivable_summary(online_only, on=TODAY)] == ["全程网办"]


def test_receivable_summaries_read_shared_data_once(junan_police, django_assert_max_num_queries):
    impls = [impl_at(junan_police, scopes=("regional",), partners=("320300",)) for _ in range(5)]
    agreement("371327", "320300")
    impls = list(type(impls[0]).objects.filter(pk__in=[i.pk for i in impls]).select_related("region"))
    with django_assert_max_num_queries(5):
        out = receivable_summaries(impls, on=TODAY)
    assert len(out) == 5


def test_partner_regions_of_expands_city_sharing():
    ag = agreement("371324", "320312", name="兰陵—铜山协议")
    Liaison.objects.create(agreement=ag, region=region("320312"), name="孙丽", department_name="铜山区行政审批局", phone="0516-83701004")
    rows = partner_regions_of(region("371327"), on=TODAY)  # 莒南 did not sign; 兰陵 did, for the whole 临沂市
    assert [r["region"].code for r in rows] == ["320300"]
    row = rows[0]
    assert row["shared"] and row["signed_by"].code == "320312" and row["region_name"] == "江苏省 徐州市"
    assert [li.name for li in row["liaisons"]] == ["孙丽"]
    assert [r["region"].code for r in partner_regions_of(region("320302"), on=TODAY)] == ["371300"]
    assert partner_regions_of(region("370102"), on=TODAY) == []
    ag.city_shared = False
    ag.save()
    assert partner_regions_of(region("371327"), on=TODAY) == []


# ---- services and authorisation ---------------------------------------------------------------


def test_save_agreement_rules_and_authorisation(staff_factory):
    admin, _ = staff_factory("catalog_admin", "371327")
    stranger, _ = staff_factory("catalog_admin", "370102")
    item = make_item("户口迁移", "002000100100")
    ag = Agreement(name="协议", party_a=region("371327"), party_b=region("320300"), signed_on=TODAY, valid_from=TODAY)
    with pytest.raises(DomainError, match="请选择适用事项"):
        services.save_agreement(admin, ag)
    with pytest.raises(PermissionDenied):
        services.save_agreement(stranger, ag, items=[item])
    services.save_agreement(admin, ag, items=[item])
    assert list(ag.items.all()) == [item]
    from django.core.exceptions import ValidationError

    same = Agreement(name="自签", party_a=region("371327"), party_b=region("371327"), signed_on=TODAY, valid_from=TODAY, all_items=True)
    with pytest.raises(ValidationError, match="合作地区不能与签约地区相同"):
        services.save_agreement(admin, same)
    backwards = Agreement(name="倒置", party_a=region("371327"), party_b=region("320300"), signed_on=TODAY, valid_from=TODAY,
                          valid_until=TODAY - datetime.timedelta(days=1), all_items=True)
    with pytest.raises(ValidationError, match="有效期至不能早于生效日期"):
        services.save_agreement(admin, backwards)
    services.terminate_agreement(admin, ag)
    ag.refresh_from_db()
    assert ag.status == Agreement.TERMINATED


def test_liaison_service_validates_phone_side_and_scope(staff_factory):
    admin, _ = staff_factory("catalog_admin", "371327")
    ag = agreement("371327", "320300")
    from django.core.exceptions import ValidationError

    for phone in ("0539-7211234", "13800138000", "021-57701005"):
        services.save_liaison(admin, Liaison(agreement=ag, region=region("320300"), name=f"联络人{phone}", department_name="单位", phone=phone))
    with pytest.raises(ValidationError):
        services.save_liaison(admin, Liaison(agreement=ag, region=region("320300"), name="错号", department_name="单位", phone="12345"))
    with pytest.raises(ValidationError, match="联络人所在区划应属于协议的一方"):
        services.save_liaison(admin, Liaison(agreement=ag, region=region("440305"), name="外地", department_name="单位", phone="0755-12345678"))
    # the signing side manages both sides' liaisons
    assert set(Liaison.objects.values_list("owner_path", flat=True)) == {region("371327").path}


def test_read_paths_agreements_public_liaisons_staff_only(staff_factory):
    ag = agreement("371327", "320300")
    Liaison.objects.create(agreement=ag, region=region("371327"), name="刘建华", department_name="莒南县行政审批服务局", phone="0539-7211234")
    Liaison.objects.create(region=region("320300"), name="常设联络人", department_name="徐州市政务办", phone="0516-83700000")
    Liaison.objects.create(region=region("440300"), name="深圳联络人", department_name="深圳市政务服务数据管理局", phone="0755-88100000")
    anonymous = AnonymousUser()
    assert list(filter_queryset(Agreement.objects.all(), anonymous)) == [ag]
    assert not filter_queryset(Liaison.objects.all(), anonymous).exists()
    names = lambda user: set(filter_queryset(Liaison.objects.all(), user).values_list("name", flat=True))  # noqa: E731
    junan_clerk, _ = staff_factory("clerk", "371327")
    xuzhou_clerk, _ = staff_factory("clerk", "320302")
    shenzhen_clerk, _ = staff_factory("clerk", "440300")
    assert names(junan_clerk) == {"刘建华", "常设联络人"}  # own agreement + the partner city's standing liaison
    assert names(xuzhou_clerk) == {"刘建华"}  # the partner side reads the agreement's liaisons
    assert names(shenzhen_clerk) == {"深圳联络人"}
    ag.status = Agreement.TERMINATED
    ag.save()
    assert names(xuzhou_clerk) == set() and names(junan_clerk) == {"刘建华"}


# ---- pages ------------------------------------------------------------------------------------


def test_public_agreements_page(client):
    ag = agreement("371327", "320300", name="莒南县—徐州市合作协议", document_no="莒审批〔2023〕12号")
    agreement("331002", "511300", name="已终止协议", status=Agreement.TERMINATED)
    Liaison.objects.create(agreement=ag, region=region("371327"), name="刘建华", department_name="莒南县行政审批服务局", phone="0539-7211234")
    response = client.get("/cooperation/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "通办合作地区" in html and "莒南县—徐州市合作协议" in html and "山东省 临沂市 莒南县" in html and "江苏省 徐州市" in html
    assert "一地签约、全市共享" in html and "莒审批〔2023〕12号" in html and "全部事项" in html
    assert "已终止协议" not in html and "0539-7211234" not in html and "刘建华" not in html


def test_partners_page_for_staff_only(client, staff_factory):
    ag = agreement("371324", "320312", name="兰陵—铜山协议")
    Liaison.objects.create(agreement=ag, region=region("320312"), name="孙丽", department_name="铜山区行政审批局", phone="0516-83701004")
    response = client.get("/cooperation/partners/")
    assert response.status_code == 302 and "login" in response["Location"]
    _user, staff = staff_factory("clerk", "371327")
    response = staff.get("/cooperation/partners/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "通办通讯录" in html and "江苏省 徐州市" in html and "一地签约、全市共享" in html
    assert "孙丽" in html and "0516-83701004" in html and "兰陵—铜山协议" in html


def test_admin_pages(staff_factory):
    ag = agreement("371327", "320300")
    _user, admin = staff_factory("catalog_admin", "371327")
    for url in ("/admin/cooperation/agreement/", "/admin/cooperation/agreement/add/", f"/admin/cooperation/agreement/{ag.pk}/change/",
                "/admin/cooperation/liaison/", "/admin/cooperation/workorder/"):
        assert admin.get(url).status_code == 200, url


def test_admin_add_agreement_with_liaison_goes_through_services(staff_factory):
    from tongban.core.models import AuditEntry

    item = make_item("户口迁移", "002000100200")
    _user, admin = staff_factory("catalog_admin", "371327")
    data = {
        "name": "莒南县—徐州市协议", "document_no": "", "party_a": region("371327").pk, "party_b": region("320300").pk,
        "signed_on": "2026-01-05", "valid_from": "2026-01-05", "valid_until": "", "items": [item.pk], "city_shared": "on",
        "status": "active", "note": "",
        "liaisons-TOTAL_FORMS": "1", "liaisons-INITIAL_FORMS": "0", "liaisons-MIN_NUM_FORMS": "0", "liaisons-MAX_NUM_FORMS": "1000",
        "liaisons-0-region": region("320300").pk, "liaisons-0-name": "孙丽", "liaisons-0-department_name": "徐州市政务办",
        "liaisons-0-title": "", "liaisons-0-phone": "0516-83701004", "liaisons-0-note": "",
    }
    response = admin.post("/admin/cooperation/agreement/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    ag = Agreement.objects.get(name="莒南县—徐州市协议")
    assert list(ag.items.all()) == [item] and ag.liaisons.get().owner_path == region("371327").path
    assert AuditEntry.objects.filter(action__in=["agreement.create", "liaison.create"]).count() == 2
    # without items and 全部事项 the form says why
    data.update(name="无事项协议", items=[], **{"liaisons-TOTAL_FORMS": "0"})
    response = admin.post("/admin/cooperation/agreement/add/", data)
    assert response.status_code == 200 and "请选择适用事项，或勾选“全部事项”" in response.content.decode()
    # another province's administrator may not sign for 莒南县
    _other, elsewhere = staff_factory("catalog_admin", "370102")
    data.update(name="越权协议", items=[item.pk])
    response = elsewhere.post("/admin/cooperation/agreement/add/", data)
    assert response.status_code == 200 and not Agreement.objects.filter(name="越权协议").exists()


def test_public_agreements_page_names_only_published_items(client):
    published = make_item("户口迁移", "002000100300")
    draft = make_item("尚未发布的事项", "002000100400", publish=False)
    agreement("371327", "320300", all_items=False, items=[published, draft], name="列明事项的协议")
    html = client.get("/cooperation/").content.decode()
    assert "列明事项的协议" in html and "户口迁移" in html
    assert "尚未发布的事项" not in html  # a draft item's name is not public


def test_partners_page_reads_shared_data_once_for_several_jurisdictions(staff_factory, django_assert_max_num_queries):
    from tongban.directory.models import Membership

    ag = agreement("371324", "320312", name="兰陵—铜山协议")
    Liaison.objects.create(agreement=ag, region=region("320312"), name="孙丽", department_name="铜山区行政审批局", phone="0516-83701004")
    user, staff = staff_factory("clerk", "371327")
    staff.get("/cooperation/partners/")  # warm up (session, sidebar)
    with django_assert_max_num_queries(100) as one:
        staff.get("/cooperation/partners/")
    Membership.objects.create(user=user, role="clerk", region=region("371324"))
    user.__dict__.pop("_tongban_grants", None)
    # a second jurisdiction adds its own region-partner counts (regional_partners_of), not another read of
    # the agreements, ancestors and liaisons
    with django_assert_max_num_queries(len(one.captured_queries) + 4):
        html = staff.get("/cooperation/partners/").content.decode()
    assert html.count("孙丽") == 2


def test_summary_lists_only_agreements_the_decision_honours():
    """A county's agreement without 全市共享 does not bind its city: the guide of a city-level implementation
    must not name a place where the clerk's decision would refuse."""
    linyi = make_department("371300", "临沂市市场监督管理局")
    impl = impl_at(linyi, scopes=())
    agreement("371324", "320312", city_shared=False, name="兰陵—铜山协议")
    assert not receiving_decision(impl, region("320312"), on=TODAY).allowed
    assert "兰陵—铜山协议" not in " ".join(r["basis"] for r in receivable_summary(impl, on=TODAY))
    # the staff directory still shows the county's agreement to the city (it lies within the city)
    assert [r["region"].code for r in partner_regions_of(region("371300"), on=TODAY)] == ["320312"]

"""Applicant search (tongban/catalog/search.py). Runs unchanged on SQLite and PostgreSQL; no timings here
(bench/catalog_search.py measures them)."""

import random
from collections import Counter

import pytest
from django.db import connection

from tests.conftest import make_department, make_implementation, make_item
from tongban.catalog import search
from tongban.catalog.models import Implementation, Item, ItemVersion
from tongban.catalog.search import COUNT_CAP, search_implementations
from tongban.core.codes import make_uscc
from tongban.directory.models import Department, Region

pytestmark = pytest.mark.django_db

_code = [0]


def code():
    _code[0] += 1
    return f"0001{_code[0]:05d}000"


def names(result):
    return [i.item.name for i in result.results]


@pytest.fixture
def catalogue():
    """A few items implemented in 莒南县 (Shandong) and 东城区 (Beijing)."""
    shandong, beijing = make_department("371327", "莒南县公安局"), make_department("110101", "东城区公安分局")
    items = {}
    for name in ["户口迁移", "户口", "办理户口迁移登记", "居民身份证换领", "护照签发", "出生登记"]:
        items[name] = make_item(name, code())
        make_implementation(items[name], shandong)
    make_implementation(items["户口迁移"], beijing, modes=("proxy",), scopes=("province_wide",))
    return items, shandong, beijing


@pytest.mark.parametrize(
    "q, expected",
    [
        ("户", {"户口迁移", "户口", "办理户口迁移登记"}),  # one character
        ("迁", {"户口迁移", "办理户口迁移登记"}),
        ("口迁", {"户口迁移", "办理户口迁移登记"}),  # two characters, in the middle of the name
        ("证换", {"居民身份证换领"}),
        ("户口迁", {"户口迁移", "办理户口迁移登记"}),  # three: FTS5 trigram / pg_trgm
        ("迁移登", {"办理户口迁移登记"}),
        ("户口迁移", {"户口迁移", "办理户口迁移登记"}),  # four
        ("身份证换", {"居民身份证换领"}),
        ("登记", {"办理户口迁移登记", "出生登记"}),
        ("户籍", set()),
        ("驾驶证", set()),
    ],
)
def test_chinese_substrings_of_one_to_four_characters(catalogue, q, expected):
    assert set(names(search_implementations(q))) == expected


def test_pinyin_initials_and_full_pinyin(catalogue):
    assert names(search_implementations("hkqy")) == ["户口迁移", "户口迁移", "办理户口迁移登记"]
    assert names(search_implementations("HKQY"))[:1] == ["户口迁移"]
    assert set(names(search_implementations("hukou"))) == {"户口", "户口迁移", "办理户口迁移登记"}
    assert names(search_implementations("hukou"))[0] == "户口"  # full pinyin exact first
    assert set(names(search_implementations("hu kou"))) == {"户口", "户口迁移", "办理户口迁移登记"}
    assert set(names(search_implementations("sfz"))) == {"居民身份证换领"}  # initials substring
    assert set(names(search_implementations("huzhao"))) == {"护照签发"}
    assert set(names(search_implementations("hz"))) == {"护照签发"}
    assert names(search_implementations("xyz")) == []


def test_ranking_exact_then_prefix_then_substring(catalogue):
    result = search_implementations("户口")
    # exact 户口, prefix 户口迁移 (Beijing 110101 before Shandong 371327), substring 办理户口迁移登记
    assert [(i.item.name, i.region.code) for i in result.results] == [
        ("户口", "371327"),
        ("户口迁移", "110101"),
        ("户口迁移", "371327"),
        ("办理户口迁移登记", "371327"),
    ]
    assert result.total == 4 and not result.total_capped


def test_results_load_related_objects(catalogue, django_assert_max_num_queries):
    result = search_implementations("户口")
    with django_assert_max_num_queries(0):
        assert [(i.item.basic_code, i.department.name, i.region.name) for i in result.results]


def test_filters(catalogue):
    items, shandong, beijing = catalogue
    province, prefecture, other = Region.objects.get(code="370000"), Region.objects.get(code="371300"), Region.objects.get(code="320000")
    assert len(search_implementations("户口迁移", region=province).results) == 2  # subtree: county under province
    assert {i.region.code for i in search_implementations("户口迁移", region=prefecture).results} == {"371327"}
    assert search_implementations("户口迁移", region=other).results == []
    assert search_implementations("户口迁移", region=Region.objects.get(code="000000")).total == 3  # national root: everything
    assert {i.department for i in search_implementations("户口迁移", department=beijing).results} == {beijing}
    assert [i.region.code for i in search_implementations("户口迁移", scope="province_wide").results] == ["110101"]
    assert [i.region.code for i in search_implementations("户口迁移", mode="proxy").results] == ["110101"]
    assert search_implementations("户口迁移", mode="joint").total == 0
    assert search_implementations("户口迁移", mode="online", scope="cross_province", region=province, department=shandong).total == 2
    assert search_implementations("", region=Region.objects.get(code="110000")).total == 1  # empty query: filters only


def test_drafts_retired_and_inactive_are_never_shown(catalogue):
    items, shandong, _ = catalogue
    draft = make_item("户口登记草稿", code(), publish=False)
    make_implementation(draft, shandong)
    retired = make_item("户口退休事项", code())
    make_implementation(retired, shandong)
    ItemVersion.objects.filter(item=retired).update(status=ItemVersion.RETIRED)
    Implementation.objects.filter(item=items["户口"]).update(is_active=False)
    shown = set(names(search_implementations("户口")))
    assert shown == {"户口迁移", "办理户口迁移登记"}
    assert search_implementations("草稿").total == 0 and search_implementations("hkdj").total == 0
    assert search_implementations("").total == 6  # 5 public items left, 户口迁移 twice


def test_traditional_input(catalogue):
    assert set(names(search_implementations("戶口"))) == {"户口", "户口迁移", "办理户口迁移登记"}
    assert set(names(search_implementations("遷移登記"))) == {"办理户口迁移登记"}
    assert set(names(search_implementations("護照"))) == {"护照签发"}


def test_like_wildcards_and_fts_syntax_are_literal(catalogue):
    items, shandong, _ = catalogue
    make_implementation(make_item("证明100%办结", code()), shandong)
    for q in ["%", "_", "__", "%%%", "\\", '"', 'a"b', "户*", "OR", "NEAR(户口)", "户口 OR 护照"]:
        assert {n for n in names(search_implementations(q))} <= {"证明100%办结"}, q
    assert names(search_implementations("%")) == ["证明100%办结"]
    assert names(search_implementations("0%办")) == ["证明100%办结"]


def test_staff_user_goes_through_the_authorisation_filter(catalogue, staff_factory):
    clerk, _ = staff_factory("clerk", "370000")
    assert search_implementations("户口迁移", user=clerk).total == 3  # public rows stay visible to everybody
    from django.contrib.auth.models import AnonymousUser

    assert search_implementations("户口迁移", user=AnonymousUser()).total == 3
    county = Region.objects.get(code="371327")
    assert search_implementations("户口迁移", user=clerk, region=county).total == 2  # the narrow-filter path too


def _bulk(item, regions, start=0):
    departments = Department.objects.bulk_create(
        Department(name=f"批量部门{start + n}", region=r, credit_code=make_uscc("11", r.code[:6], f"B{start + n:07d}"))
        for n, r in enumerate(regions)
    )
    Implementation.objects.bulk_create(
        Implementation(
            item=item,
            department=d,
            region=d.region,
            level="4",
            implementation_code=f"{d.credit_code}4{item.basic_code}",
            statutory_limit_days=20,
            promised_limit_days=10,
            modes=1,
            scopes=1,
        )
        for d in departments
    )


def test_count_is_capped(catalogue):
    item = make_item("不动产登记", code())
    counties = list(Region.objects.filter(level=Region.COUNTY).order_by("code")[:1050])
    _bulk(item, counties)
    result = search_implementations("不动产")
    assert result.total == COUNT_CAP and result.total_capped
    assert [i.region.code for i in result.results] == [r.code for r in counties[:20]]
    page = search_implementations("不动产", offset=990, limit=20)
    assert [i.region.code for i in page.results] == [r.code for r in counties[990:1000]]  # pages stop at the cap
    assert search_implementations("不动产", offset=1000).results == []
    exact = search_implementations("不动产", region=Region.objects.get(code="110000"))
    assert exact.total == Implementation.objects.filter(item=item, region__path__startswith="000000/110000/").count() < COUNT_CAP
    assert not exact.total_capped


def test_paging_across_chunks_matches_a_plain_ordering():
    """Many items with uneven numbers of implementations: each page equals the slice of a plain ordering."""
    rng = random.Random(7)
    counties = list(Region.objects.filter(level=Region.COUNTY).order_by("code")[:400])
    words = ["登记", "变更", "注销", "备案", "证明", "许可"]
    for n in range(30):
        item = make_item(f"{'户口' if n % 3 else '护照'}{words[n % 6]}{n:02d}", code())
        _bulk(item, rng.sample(counties, rng.choice([0, 1, 3, 9, 27])), start=n * 1000)
    make_implementation(make_item("户口", code()), make_department("371327"))
    expected = sorted(
        Implementation.objects.filter(item__name__contains="户口").select_related("item", "region"),
        key=lambda i: (0 if i.item.name == "户口" else 1, i.item.name, i.item_id, i.region.code, i.id),
    )
    got = []
    for offset in range(0, len(expected) + 7, 7):
        got += search_implementations("户口", limit=7, offset=offset).results
    assert [i.id for i in got] == [i.id for i in expected]
    assert search_implementations("户口").total == len(expected)
    beijing = Region.objects.get(code="110000")
    in_beijing = [i.id for i in expected if i.region.path.startswith(beijing.path)]
    assert [i.id for i in search_implementations("户口", region=beijing, limit=100).results] == in_beijing
    # A prefecture takes the other strategy (all rows of the narrow filter, sorted in Python): same order.
    prefecture = Region.objects.get(code=Counter(i.region.path.split("/")[2] for i in expected).most_common(1)[0][0])
    in_prefecture = [i.id for i in expected if i.region.path.startswith(prefecture.path)]
    assert len(in_prefecture) > 3
    got = []
    for offset in range(0, len(in_prefecture) + 3, 3):
        got += search_implementations("户口", region=prefecture, limit=3, offset=offset).results
    assert [i.id for i in got] == in_prefecture
    assert search_implementations("户口", region=prefecture).total == len(in_prefecture)


def test_renamed_and_deleted_items_stay_in_sync(catalogue):
    items, shandong, _ = catalogue
    item = items["护照签发"]
    item.name = "往来港澳通行证签注"
    item.save()
    assert search_implementations("护照签发").total == 0
    assert names(search_implementations("港澳通行")) == ["往来港澳通行证签注"]
    assert names(search_implementations("wlga")) == ["往来港澳通行证签注"]
    Implementation.objects.filter(item=item).delete()
    ItemVersion.objects.filter(item=item).delete()
    item_id = item.pk
    item.delete()
    assert search_implementations("港澳通行").total == 0
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM catalog_item_fts WHERE rowid = %s", [item_id])
            assert cursor.fetchone()[0] == 0
            cursor.execute("SELECT count(*) FROM catalog_item_fts")
            assert cursor.fetchone()[0] == Item.objects.count()


def test_ranked_items_are_identical_whatever_the_query_length(catalogue):
    # The ≥3-character path (FTS5 / trigram) and the LIKE path agree on the same names.
    assert search.ranked_item_ids("户口迁移") == [catalogue[0]["户口迁移"].pk, catalogue[0]["办理户口迁移登记"].pk]
    assert search.ranked_item_ids("") == sorted(search.ranked_item_ids(""), key=lambda pk: (Item.objects.get(pk=pk).name, pk))


def test_search_schema_is_in_place():
    """Migration 0003 objects. A later migration that rebuilds catalog_item on SQLite (Django's table remake)
    drops the FTS triggers silently: this test is the alarm."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('trigger', 'index', 'table') AND name LIKE 'catalog_i%%'")
            found = {r[0] for r in cursor.fetchall()}
            expected = {
                "catalog_item_fts",
                "catalog_item_fts_insert",
                "catalog_item_fts_update",
                "catalog_item_fts_delete",
                "catalog_impl_search_item",
                "catalog_impl_search_region",
            }
        else:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename IN ('catalog_item', 'catalog_implementation')")
            found = {r[0] for r in cursor.fetchall()}
            expected = {
                "catalog_item_name_trgm",
                "catalog_item_initials_trgm",
                "catalog_item_pinyin_trgm",
                "catalog_impl_search_item",
                "catalog_impl_search_region",
            }
        assert expected <= found

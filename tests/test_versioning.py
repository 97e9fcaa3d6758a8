import pytest
from django.db import IntegrityError, transaction

from tests.conftest import make_item
from tongban.catalog import services
from tongban.catalog.models import ItemVersion
from tongban.core.errors import Conflict


@pytest.fixture
def admin_user(staff_factory):
    user, _client = staff_factory("catalog_admin", "000000")
    return user


@pytest.mark.django_db
def test_draft_copies_published_and_publish_retires_previous(admin_user):
    item = make_item("户口迁移", "002000100000", materials=("户口迁移申请表", "居民户口簿"))
    v1 = item.versions.get()
    draft = services.create_draft(admin_user, item, change_note="调整时限", promised_limit_days=5)
    assert draft.version_no == 2 and draft.status == ItemVersion.DRAFT
    assert draft.conditions == v1.conditions and draft.promised_limit_days == 5
    assert [m.name for m in draft.materials.all()] == ["户口迁移申请表", "居民户口簿"]
    services.publish(admin_user, draft)
    v1.refresh_from_db()
    draft.refresh_from_db()
    assert v1.status == ItemVersion.RETIRED and v1.retired_at
    assert draft.status == ItemVersion.PUBLISHED
    assert item.versions.filter(status=ItemVersion.PUBLISHED).count() == 1
    # history is kept: both versions remain
    assert item.versions.count() == 2


@pytest.mark.django_db
def test_published_version_cannot_be_edited(admin_user):
    item = make_item("出生医学证明", "002000200000")
    with pytest.raises(Conflict, match="新建草稿"):
        services.update_draft(admin_user, item.versions.get(), conditions="改")
    with pytest.raises(Conflict, match="只有草稿"):
        services.publish(admin_user, item.versions.get())


@pytest.mark.django_db
def test_one_published_version_enforced_by_the_database():
    item = make_item("社保卡申领", "002000300000")
    v1 = item.versions.get()
    v2 = ItemVersion.objects.create(item=item, version_no=2, name=v1.name, conditions="x", application_methods="x", review_procedure="x",
                                    statutory_limit_days=1, promised_limit_days=1, legal_basis="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemVersion.objects.filter(pk=v2.pk).update(status=ItemVersion.PUBLISHED)


@pytest.mark.django_db
def test_publishing_needs_materials(admin_user):
    item = make_item("无材料事项", "002000400000", publish=False, materials=())
    with pytest.raises(Exception, match="申请材料"):
        services.publish(admin_user, item.versions.get())
    assert item.versions.get().status == ItemVersion.DRAFT


@pytest.mark.django_db
def test_version_api_flow(staff_factory):
    user, client = staff_factory("catalog_admin", "000000")
    item = make_item("户口迁移", "002000100000")
    r = client.post(f"/api/v1/catalog/items/{item.basic_code}/versions", {"change_note": "修订", "guide": {"promised_limit_days": 3}},
                    content_type="application/json")
    assert r.status_code == 201, r.content
    vid = r.json()["id"]
    assert r.json()["guide"]["promised_limit_days"] == 3 and len(r.json()["materials"]) == 2
    r = client.patch(f"/api/v1/catalog/versions/{vid}", {"guide": {"promised_limit_days": 99}}, content_type="application/json")
    assert r.status_code == 422 and "承诺办结时限不能长于法定办结时限" in r.json()["detail"]
    assert ItemVersion.objects.get(pk=vid).promised_limit_days == 3
    r = client.post(f"/api/v1/catalog/versions/{vid}/publish")
    assert r.status_code == 200 and r.json()["status"] == "published"
    r = client.post(f"/api/v1/catalog/versions/{vid}/publish")
    assert r.status_code == 409 and "草稿" in r.json()["detail"]
    # editing the published version makes a new draft; the published text stays as it was
    r = client.patch(f"/api/v1/catalog/versions/{vid}", {"guide": {"conditions": "改"}, "change_note": "改条件"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "draft" and r.json()["id"] != vid
    assert r.json()["guide"]["conditions"] == "改" and r.json()["guide"]["promised_limit_days"] == 3
    assert ItemVersion.objects.get(pk=vid).conditions != "改"
    # a second edit of the published version continues the same open draft
    r2 = client.patch(f"/api/v1/catalog/versions/{vid}", {"guide": {"fee_standard": "不收费"}}, content_type="application/json")
    assert r2.json()["id"] == r.json()["id"]
    r = client.patch(f"/api/v1/catalog/versions/{vid}", {"guide": {"no_such_field": 1}}, content_type="application/json")
    assert r.status_code == 422 and "no_such_field 不是可识别的字段" in r.json()["detail"]  # the guide schema forbids unknown fields
    history = client.get(f"/api/v1/catalog/items/{item.basic_code}/versions").json()
    assert [v["status"] for v in history] == ["draft", "published", "retired"]
    retired_id = history[2]["id"]
    r = client.patch(f"/api/v1/catalog/versions/{retired_id}", {"guide": {"conditions": "x"}}, content_type="application/json")
    assert r.status_code == 409 and "废止" in r.json()["detail"]


@pytest.mark.django_db
def test_admin_new_draft_from_published(staff_factory):
    user, client = staff_factory("catalog_admin", "000000")
    item = make_item("户口迁移", "002000100000")
    published = item.versions.get()
    page = client.get(f"/admin/catalog/itemversion/{published.pk}/change/")
    assert page.status_code == 200 and "基于此版本新建草稿" in page.content.decode()
    r = client.post(f"/admin/catalog/itemversion/{published.pk}/new-draft/")
    draft = item.versions.get(status=ItemVersion.DRAFT)
    assert r.status_code == 302 and r["Location"].endswith(f"/{draft.pk}/change/")
    assert draft.based_on_id == published.pk and draft.materials.count() == 2
    # a county administrator may not draft a national item
    _u, county = staff_factory("catalog_admin", "371327")
    county.post(f"/admin/catalog/itemversion/{published.pk}/new-draft/")
    assert item.versions.filter(status=ItemVersion.DRAFT).count() == 1

"""Text no database can store (NUL, lone surrogates) sent to pages outside the API: never a 500."""

import pytest

from tests.conftest import make_department, make_implementation, make_item

URLS = [
    "/search/?q=%00", "/search/?q=户%00口", "/search/?region=%00", "/lists/?scope=%00", "/guide/%00/",
    "/admin/catalog/implementation/?q=%00", "/admin/catalog/item/?q=a%00b", "/admin/directory/region/?q=%00",
    "/admin/catalog/implementation/?jurisdiction=%00", "/staff/login/?next=%00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", URLS)
def test_nul_in_query_is_not_a_server_error(staff_factory, url):
    item = make_item("户口迁移", "002000100000")
    make_implementation(item, make_department("371327", "莒南县公安局"))
    _u, client = staff_factory("catalog_admin", "371327")
    r = client.get(url)
    assert r.status_code < 500


@pytest.mark.django_db
def test_nul_in_login_form_is_not_a_server_error(client):
    r = client.post("/staff/login/", {"username": "a\x00b", "password": "x", "token": "123456"})
    assert r.status_code < 500

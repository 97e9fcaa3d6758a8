import pytest

from tests.conftest import make_department, make_implementation, make_item


@pytest.mark.django_db
def test_reference_data_loaded():
    from tongban.directory.models import Region

    assert Region.objects.filter(level="township").count() == 41352


@pytest.mark.django_db
def test_factories():
    item = make_item("户口迁移", "002000100000")
    dept = make_department("371327", "莒南县公安局")
    impl = make_implementation(item, dept)
    impl.full_clean()
    assert impl.implementation_code.endswith("4002000100000")

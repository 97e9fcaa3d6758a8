"""Shared fixtures. The real divisions and the holiday calendar are loaded once per test session into
the test database; each test then runs in a transaction that is rolled back."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.core.codes import make_uscc


def load_reference_data():
    from tongban.core.services import seed_holidays_from_chinesecalendar
    from tongban.directory import services

    services.load_divisions()
    services.load_history()
    services.reset_caches()
    seed_holidays_from_chinesecalendar()
    from tongban.core import workdays

    workdays.invalidate()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        load_reference_data()


@pytest.fixture
def reference_data(transactional_db):
    """For transactional (live-server) tests, whose tables are flushed after each test."""
    load_reference_data()


_serial = [0]


def make_department(region_code, name=None, kind="11"):
    from tongban.directory.models import Department, Region

    _serial[0] += 1
    region = Region.objects.get(code=region_code)
    serial = f"{_serial[0]:08d}"
    return Department.objects.create(name=name or f"测试部门{_serial[0]}", region=region, credit_code=make_uscc(kind, region_code[:6], serial))


def make_staff(username, role, region_code, department=None):
    from tongban.directory.models import Membership, Region

    user = get_user_model().objects.create_user(username=username, password="Tongban-test-2026", first_name=username)
    Membership.objects.create(user=user, role=role, region=Region.objects.get(code=region_code), department=department)
    TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return user


def verified_client(user):
    """A test client whose session passed password and TOTP."""
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    device = TOTPDevice.objects.get(user=user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def staff_factory(db):
    def factory(role, region_code, department=None, username=None):
        _serial[0] += 1
        user = make_staff(username or f"{role}_{region_code}_{_serial[0]}", role, region_code, department)
        return user, verified_client(user)

    return factory


GUIDE_DEFAULTS = dict(
    conditions="申请人符合法定条件", application_methods="网上申报；窗口申报", review_procedure="受理—审核—审批—办结",
    statutory_limit_days=20, promised_limit_days=10, legal_basis="《中华人民共和国行政许可法》",
)


def make_item(name, basic_code, region_code="000000", item_type=None, publish=True, materials=("申请表", "身份证明")):
    """An item with one version (published by default) and its materials; bypasses authorisation."""
    from tongban.catalog.models import Item, ItemVersion, Material
    from tongban.directory.models import Region

    item = Item.objects.create(basic_code=basic_code, name=name, item_type=item_type or basic_code[2:4], region=Region.objects.get(code=region_code))
    version = ItemVersion.objects.create(item=item, version_no=1, name=name, status=ItemVersion.PUBLISHED if publish else ItemVersion.DRAFT, **GUIDE_DEFAULTS)
    for i, m in enumerate(materials, 1):
        Material.objects.create(version=version, seq=i, name=m)
    return item


def make_implementation(item, department, region_code=None, level="4", modes=("online",), scopes=("cross_province",)):
    from tongban.catalog.models import Implementation
    from tongban.directory.models import Region

    region = Region.objects.get(code=region_code) if region_code else department.region
    return Implementation.objects.create(
        item=item, department=department, region=region, level=level,
        implementation_code=f"{department.credit_code}{level}{item.basic_code}",
        statutory_limit_days=20, promised_limit_days=10, modes=list(modes), scopes=list(scopes), delivery_methods=["mail", "online"],
    )


@pytest.fixture(autouse=True)
def _node_key_in_tmp(settings, tmp_path):
    """Each test's node signs with a key under its tmp dir, never the checkout's var/node_key.json."""
    from tongban.exchange.service import forget_self
    from tongban.exchange.signing import reset_signer

    settings.TONGBAN_NODE_KEY_FILE = tmp_path / "node_key.json"
    reset_signer()
    forget_self()  # the cached self node of an earlier test's (rolled back) database
    yield
    reset_signer()
    forget_self()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Process-wide caches (working-day calendar, address codes) must not outlive a rolled-back test."""
    from django.core.cache import cache

    from tongban.core import workdays
    from tongban.directory import services

    workdays.invalidate()
    services.reset_caches()
    cache.clear()
    yield
    workdays.invalidate()
    cache.clear()


# --- cases -----------------------------------------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def make_id_number(address="110105", birth="19900101", seq=None):
    from tongban.core.codes import id_check_char

    _serial[0] += 1
    first17 = f"{address}{birth}{(seq if seq is not None else _serial[0]) % 1000:03d}"
    return first17 + id_check_char(first17)


def make_applicant(name="张三", id_number=None, phone="13800138000"):
    from tongban.applicants.models import Applicant

    _serial[0] += 1
    user = get_user_model().objects.create_user(username=f"p-test-{_serial[0]}", first_name=name)
    user.set_unusable_password()
    user.save()
    return Applicant.objects.create(user=user, kind="natural", name=name, id_number=id_number or make_id_number(), phone=phone)


def applicant_client(applicant):
    client = Client()
    client.force_login(applicant.user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def upload(name="材料.pdf", data=PDF_BYTES, content_type="application/pdf"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


class CaseWorld:
    """An online item in 莒南县 with two required materials, its clerk, approver and an applicant."""

    def __init__(self, staff_factory, steps=None, fee=0, case_kind="2"):
        from tongban.catalog.models import ReviewProcess

        _serial[0] += 1
        n = _serial[0] % 1000
        self.department = make_department("371327", f"莒南县测试局{_serial[0]}")
        self.item = make_item(f"测试许可事项{_serial[0]}", f"0001{n:05d}000", materials=("申请书", "身份证明"))
        self.version = self.item.versions.get()
        if case_kind != "2":
            self.version.case_kind = case_kind
            self.version.save()
        self.materials = list(self.version.materials.order_by("seq"))
        if steps:
            rp = ReviewProcess(version=self.version, steps=steps)
            rp.full_clean()
            rp.save()
        self.impl = make_implementation(self.item, self.department)
        if fee:
            self.impl.fee_amount = fee
            self.impl.save()
        self.clerk, self.clerk_client = staff_factory("clerk", "371327", self.department)
        self.approver, self.approver_client = staff_factory("approver", "371327", self.department)
        self.applicant = make_applicant()
        self.client = applicant_client(self.applicant)

    def submitted_case(self, token=None):
        from tongban.cases import services

        user = self.applicant.user
        case = services.create_draft(self.applicant, self.impl.implementation_code)
        for m in self.materials:
            services.add_material(user, case.pk, m.pk, upload(f"{m.name}.pdf", PDF_BYTES + m.name.encode()))
        return services.submit(user, case.pk, token)

    def act(self, case, action, who=None, opinion="", **params):
        from tongban.cases import services

        return services.perform(case.pk, action, who or self.clerk, opinion=opinion, params=params)


@pytest.fixture
def case_world(staff_factory, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return lambda **kw: CaseWorld(staff_factory, **kw)

"""主题叫号: numbering per queue and day, green channel first, a window calls only its queues, two windows
never call the same ticket (PostgreSQL, real threads), recall / no-show / transfer, linking a 一件事
case, permissions, bad input, the kiosk, the hall screen, the clerk's screen and the kiosk's rate limit."""

import datetime
import threading

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import make_applicant, make_department, make_staff, verified_client
from tongban.core import authz
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.directory.models import Hall, Membership, Region, Window
from tongban.queueing import services
from tongban.queueing.models import Queue, QueueTicket, TicketLog, TicketStatus

_serial = [0]


def _next():
    _serial[0] += 1
    return _serial[0]


def make_hall(region_code="371327", windows=(("1", "综合受理窗口（一）", "general"), ("2", "综合受理窗口（二）", "general"),
                                               ("18", "跨域通办专窗", "cross_region"))):
    hall = Hall.objects.create(name=f"测试政务服务中心{_next()}", kind=Hall.COUNTY_HALL, region=Region.objects.get(code=region_code), address="测试地址")
    return hall, {n: Window.objects.create(hall=hall, number=n, name=name, kind=kind) for n, name, kind in windows}


def window_clerk(window, region_code=None):
    user = make_staff(f"qclerk{_next()}", "clerk", region_code or window.hall.region.code)
    Membership.objects.filter(user=user).update(window=window)
    return user, verified_client(user)


def make_bundle(name, theme, stage, region_code="371327", published=True):
    from tongban.bundles.models import Bundle, BundleVersion

    n = _next()
    bundle = Bundle.objects.create(code=f"QTEST{n:05d}", name=name, theme=theme, stage=stage, region=Region.objects.get(code=region_code))
    BundleVersion.objects.create(bundle=bundle, version_no=1, name=name, lead_department=make_department(region_code), promised_limit_days=5,
                                 status=BundleVersion.PUBLISHED if published else BundleVersion.DRAFT)
    return bundle


class World:
    def __init__(self):
        self.hall, self.windows = make_hall()
        self.w1, self.w2, self.w18 = self.windows["1"], self.windows["2"], self.windows["18"]
        self.clerk1, self.c1 = window_clerk(self.w1)
        self.clerk2, self.c2 = window_clerk(self.w2)
        self.birth = make_bundle("新生儿出生", "personal", "birth")
        self.restaurant = make_bundle("开办餐饮店", "enterprise", "open")

    def take(self, **kw):
        return services.take_ticket(self.hall, **kw)


@pytest.fixture
def world(db):
    return World()


# --- numbering ------------------------------------------------------------------------------------

def test_numbers_per_queue_and_per_day(world, monkeypatch):
    w = world
    g1 = w.take(bundle=w.birth)
    g2 = w.take(theme="personal")
    q1 = w.take(bundle=w.restaurant)
    a1 = w.take()
    x1 = w.take(theme="project")
    assert [t.number for t in (g1, g2, q1, a1, x1)] == ["G001", "G002", "Q001", "A001", "X001"]
    assert g1.queue == "personal" and g1.bundle == w.birth and q1.queue == "enterprise" and a1.queue == "ordinary"
    # Another hall counts on its own.
    other, _ = make_hall()
    assert services.take_ticket(other, theme="personal").number == "G001"
    # The next day starts again at 001.
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    monkeypatch.setattr(services, "today", lambda: tomorrow)
    t = w.take(theme="personal")
    assert t.number == "G001" and t.day == tomorrow
    assert QueueTicket.objects.filter(hall=w.hall, number="G001").count() == 2
    # Each taking is logged.
    assert TicketLog.objects.filter(ticket=g1, action="take").count() == 1


def test_a_bundle_sets_its_theme_and_must_be_offered_at_the_hall(world):
    w = world
    with pytest.raises(DomainError) as exc:
        w.take(bundle=w.birth, theme="enterprise")
    assert exc.value.status == 422 and "不属于该主题" in exc.value.message
    draft = make_bundle("未发布的一件事", "personal", "school", published=False)
    elsewhere = make_bundle("外省一件事", "personal", "birth", region_code="150602")
    for b in (draft, elsewhere):
        with pytest.raises(DomainError) as exc:
            w.take(bundle=b)
        assert exc.value.status == 422 and "暂不提供" in exc.value.message
    # A bundle published by the province is offered in the county's hall.
    provincial = make_bundle("全省一件事", "project", "invest", region_code="370000")
    assert w.take(bundle=provincial).number == "X001"
    assert QueueTicket.objects.filter(hall=w.hall).count() == 1


# --- calling --------------------------------------------------------------------------------------

def test_green_channel_first_then_in_order_taken(world):
    w = world
    a1 = w.take()
    g1 = w.take(theme="personal")
    a2 = w.take(green=True, green_reason="elderly")
    q1 = w.take(theme="enterprise", green=True, green_reason="key_project")
    assert services.people_ahead(a1) == 1 and services.people_ahead(a2) == 0 and services.people_ahead(g1) == 0
    called = []
    for _ in range(4):
        t = services.call_next(w.clerk1, w.w1)
        called.append(t.number)
        services.start(w.clerk1, t.pk)
        services.finish(w.clerk1, t.pk)
    assert called == [a2.number, q1.number, a1.number, g1.number] == ["A002", "Q001", "A001", "G001"]
    assert services.call_next(w.clerk1, w.w1) is None
    assert list(TicketLog.objects.filter(ticket=a2).values_list("action", flat=True)) == ["take", "call", "start", "finish"]
    log = TicketLog.objects.get(ticket=a2, action="call")
    assert log.actor == w.clerk1 and log.window == w.w1
    with pytest.raises(PermissionError):
        log.delete()


def test_a_window_calls_only_the_queues_it_serves(world):
    w = world
    g1 = w.take(theme="personal")
    q1 = w.take(theme="enterprise")
    a1 = w.take()
    # 跨域通办专窗 by default: the ordinary queue only.
    clerk18, _ = window_clerk(w.w18)
    assert services.served_queues(w.w18) == ["ordinary"]
    assert services.call_next(clerk18, w.w18).pk == a1.pk
    services.start(clerk18, a1.pk)
    services.finish(clerk18, a1.pk)
    assert services.call_next(clerk18, w.w18) is None
    # Window 2 configured for the enterprise queue only.
    admin = make_staff(f"qadmin{_next()}", "platform_admin", "371327")
    assert services.set_window_queues(admin, w.w2, ["enterprise"]) == ["enterprise"]
    assert services.call_next(w.clerk2, w.w2).pk == q1.pk
    services.no_show(w.clerk2, q1.pk)
    assert services.call_next(w.clerk2, w.w2) is None
    assert QueueTicket.objects.get(pk=g1.pk).status == TicketStatus.WAITING
    # Configuring windows is for administrators.
    with pytest.raises(authz.PermissionDenied):
        services.set_window_queues(w.clerk1, w.w1, ["personal"])
    with pytest.raises(DomainError):
        services.set_window_queues(admin, w.w1, ["nonsense"])


def test_a_window_finishes_its_ticket_before_calling_the_next(world):
    w = world
    w.take()
    w.take()
    t = services.call_next(w.clerk1, w.w1)
    with pytest.raises(Conflict) as exc:
        services.call_next(w.clerk1, w.w1)
    assert t.number in exc.value.message and "尚未结束" in exc.value.message


def test_recall_no_show_and_wrong_order_of_steps(world, django_capture_on_commit_callbacks):
    from tongban.applicants.models import OutboundSms

    w = world
    t = w.take(phone="13912345678")
    with django_capture_on_commit_callbacks(execute=True):
        services.call_next(w.clerk1, w.w1)
    sms = OutboundSms.objects.filter(phone="13912345678").last()
    assert sms is not None and "请A001号到1号窗口" in sms.text
    with pytest.raises(Conflict):
        services.finish(w.clerk1, t.pk)  # not started
    for n in range(1, services.MAX_RECALLS + 1):
        assert services.recall(w.clerk1, t.pk).recall_count == n
    with pytest.raises(Conflict) as exc:
        services.recall(w.clerk1, t.pk)
    assert "过号" in exc.value.message
    t = services.no_show(w.clerk1, t.pk)
    assert t.status == TicketStatus.NO_SHOW and t.done_at is not None
    for step in (services.recall, services.no_show, services.start):
        with pytest.raises(Conflict):
            step(w.clerk1, t.pk)
    assert TicketLog.objects.filter(ticket=t, action="recall").count() == services.MAX_RECALLS
    # A served ticket cannot be passed over.
    u = w.take()
    services.call_next(w.clerk1, w.w1)
    services.start(w.clerk1, u.pk)
    with pytest.raises(Conflict):
        services.no_show(w.clerk1, u.pk)


def test_transfer_goes_to_the_other_window_first(world):
    w = world
    t = w.take(theme="enterprise")
    other = w.take(theme="enterprise", green=True, green_reason="pregnant")
    first = services.call_next(w.clerk1, w.w1)
    assert first.pk == other.pk
    services.start(w.clerk1, first.pk)
    with pytest.raises(DomainError) as exc:
        services.transfer(w.clerk1, first.pk, w.w1.pk)
    assert exc.value.status == 422
    elsewhere, elsewhere_windows = make_hall()
    with pytest.raises(DomainError):
        services.transfer(w.clerk1, first.pk, elsewhere_windows["1"].pk)
    moved = services.transfer(w.clerk1, first.pk, w.w2.pk)
    assert moved.status == TicketStatus.TRANSFERRED and moved.target_window == w.w2
    # Window 1 goes on with its own queue; window 2 gets the transferred ticket before the waiting one.
    services.call_next(w.clerk1, w.w1)  # takes `t`
    services.no_show(w.clerk1, t.pk)
    assert services.call_next(w.clerk1, w.w1) is None
    again = services.call_next(w.clerk2, w.w2)
    assert again.pk == other.pk and again.window == w.w2 and again.target_window is None
    # Window 1 cannot act on it any more.
    with pytest.raises(authz.PermissionDenied):
        services.start(w.clerk1, again.pk)


def test_start_links_the_bundle_case_of_the_applicant(world):
    from tongban.bundles.models import BundleCase, BundleStatus

    w = world
    version = w.birth.published_version
    applicant = make_applicant(phone="13700000009")
    lead = Region.objects.get(code="371327")

    def bundle_case(no, phone, bundle_version=version, region=lead):
        return BundleCase.objects.create(
            case_no=no, status=BundleStatus.SUBMITTED, bundle_version=bundle_version, applicant=applicant, applicant_name=applicant.name,
            applicant_code=applicant.id_number, contact_phone=phone, lead_region=region, lead_region_path=region.path,
            lead_department=bundle_version.lead_department, refusal_policy="partial")

    other_phone = bundle_case("371327-20990101-900001", "13600000000")
    mine = bundle_case("371327-20990101-900002", "13700000009")
    wrong_bundle = bundle_case("371327-20990101-900003", "13700000009", w.restaurant.published_version)
    ordos = Region.objects.get(code="150602")
    far = bundle_case("150602-20990101-900004", "13700000009", region=ordos)

    t = w.take(bundle=w.birth, phone="13700000009")
    services.call_next(w.clerk1, w.w1)
    with pytest.raises(NotFound):
        services.start(w.clerk1, t.pk, far.case_no)  # another region's case is not visible to this clerk
    with pytest.raises(DomainError) as exc:
        services.start(w.clerk1, t.pk, wrong_bundle.case_no)
    assert exc.value.status == 422 and "新生儿出生" in exc.value.message
    assert QueueTicket.objects.get(pk=t.pk).status == TicketStatus.CALLED  # nothing half-written
    services.start(w.clerk1, t.pk)
    assert [c.pk for c in services.open_bundle_cases(w.clerk1, QueueTicket.objects.get(pk=t.pk))] == [mine.pk, other_phone.pk]
    linked = services.link_bundle_case(w.clerk1, t.pk, mine.case_no)
    assert linked.bundle_case == mine
    page = w.c1.get(f"/queue/window/?window={w.w1.pk}")
    assert page.status_code == 200 and f"/workbench/bundles/{mine.pk}/" in page.content.decode()


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------

def _race(n, fn):
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        from django.db import connections

        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 — the outcome is what we test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="并发测试在 PostgreSQL 上运行（SQLite 内存测试库不支持并发等待）")
def test_two_windows_calling_at_once_never_get_the_same_ticket(reference_data):
    w = World()
    windows, clerks = [w.w1, w.w2], [w.clerk1, w.clerk2]
    for _ in range(6):
        w.take(theme="personal")
    seen = []
    for _round in range(3):
        results = _race(2, lambda i: services.call_next(clerks[i], windows[i]))
        assert all(isinstance(r, QueueTicket) for r in results), results
        assert results[0].pk != results[1].pk
        seen += [r.pk for r in results]
        for i, r in enumerate(results):
            services.start(clerks[i], r.pk)
            services.finish(clerks[i], r.pk)
    assert len(set(seen)) == 6
    # One ticket left, two windows: one gets it, the other nothing.
    last = w.take(theme="personal")
    results = _race(2, lambda i: services.call_next(clerks[i], windows[i]))
    assert sorted(r.pk if r else 0 for r in results) == [0, last.pk], results
    assert TicketLog.objects.filter(ticket=last, action="call").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor == "sqlite", reason="并发测试在 PostgreSQL 上运行（SQLite 内存测试库不支持并发等待）")
def test_simultaneous_kiosks_get_distinct_numbers(reference_data):
    hall, _ = make_hall()
    results = _race(6, lambda i: services.take_ticket(hall, theme="project"))
    assert all(isinstance(r, QueueTicket) for r in results), results
    assert sorted(r.number for r in results) == [f"X{n:03d}" for n in range(1, 7)]


# --- permissions ----------------------------------------------------------------------------------

def test_only_the_clerk_of_the_window_calls_and_acts(world):
    w = world
    t = w.take()
    other_hall, other_windows = make_hall()
    other_clerk, other_client = window_clerk(other_windows["1"])
    with pytest.raises(authz.PermissionDenied):
        services.call_next(other_clerk, w.w1)
    r = other_client.post("/queue/window/call/", {"window": w.w1.pk})
    assert r.status_code == 403 and "不是该窗口的受理人员" in r.content.decode()
    services.call_next(w.clerk1, w.w1)
    # A clerk of another hall in the same county: 403; of another province: 404.
    r = other_client.post(f"/queue/tickets/{t.pk}/start/", {"window": other_windows["1"].pk})
    assert r.status_code == 403 and "不是由您的窗口叫号" in r.content.decode()
    far_hall, far_windows = make_hall("150602")
    far_clerk, far_client = window_clerk(far_windows["1"])
    r = far_client.post(f"/queue/tickets/{t.pk}/start/", {"window": far_windows["1"].pk})
    assert r.status_code == 404 and "未找到该号" in r.content.decode()
    # Window 2's clerk of the same hall cannot act on window 1's ticket either.
    r = w.c2.post(f"/queue/tickets/{t.pk}/no_show/", {"window": w.w2.pk})
    assert r.status_code == 403
    assert QueueTicket.objects.get(pk=t.pk).status == TicketStatus.CALLED
    # Staff without a window, and approvers, have no call-next screen.
    r = verified_client(make_staff(f"qnowin{_next()}", "clerk", "371327")).get("/queue/window/")
    assert r.status_code == 403 and "未指定窗口" in r.content.decode()
    r = verified_client(make_staff(f"qappr{_next()}", "approver", "371327")).get("/queue/window/")
    assert r.status_code == 403
    # Not signed in: the sign-in page.
    r = Client().get("/queue/window/")
    assert r.status_code == 302 and "/staff/" in r["Location"]
    # A window membership outside the clerk's region does not let them call there.
    stray, _ = window_clerk(w.w1, region_code="150602")
    with pytest.raises(authz.PermissionDenied):
        services.call_next(stray, w.w1)
    # Reading: staff of the region read the hall's tickets, others do not.
    supervisor = make_staff(f"qsup{_next()}", "supervisor", "371300")
    assert authz.filter_queryset(QueueTicket.objects.all(), supervisor).filter(pk=t.pk).exists()
    assert not authz.filter_queryset(QueueTicket.objects.all(), far_clerk).filter(pk=t.pk).exists()


# --- pages ----------------------------------------------------------------------------------------

def test_kiosk_flow_and_ticket_page(world):
    w = world
    kiosk = Client()
    r = kiosk.get(f"/queue/{w.hall.pk}/take/")
    body = r.content.decode()
    assert r.status_code == 200 and "请选择办事主题" in body and "个人一件事" in body and "企业一件事" in body
    r = kiosk.get(f"/queue/{w.hall.pk}/take/?theme=personal")
    body = r.content.decode()
    assert r.status_code == 200 and "新生儿出生" in body and "出生" in body and "开办餐饮店" not in body and "绿色通道" in body
    token = body.split('name="token" value="')[1].split('"')[0]
    post = {"theme": "personal", "bundle": w.birth.pk, "green": "1", "green_reason": "elderly", "phone": "13912345678", "token": token}
    r = kiosk.post(f"/queue/{w.hall.pk}/take/", post)
    assert r.status_code == 302
    r2 = kiosk.post(f"/queue/{w.hall.pk}/take/", post)  # a double press
    assert r2["Location"] == r["Location"]
    ticket = QueueTicket.objects.get(hall=w.hall)
    assert ticket.number == "G001" and ticket.green and ticket.bundle == w.birth and ticket.phone == "13912345678"
    page = kiosk.get(r["Location"])
    body = page.content.decode()
    assert page.status_code == 200 and "G001" in body and "新生儿出生" in body and "前面还有" in body and "139****5678" in body
    assert "13912345678" not in body
    assert kiosk.get(f"/queue/{w.hall.pk}/ticket/notatoken123/").status_code == 404
    # The same token at another hall's kiosk is refused, not another hall's ticket.
    other, _ = make_hall()
    r = kiosk.post(f"/queue/{other.pk}/take/", {**post, "bundle": ""})
    assert r.status_code == 422 and "取号令牌无效" in r.content.decode()


def test_kiosk_bad_input_is_a_chinese_4xx_and_nothing_is_written(world):
    w = world
    kiosk = Client()
    cases = [
        ({"theme": "personal", "green": "1", "token": "tokentoken1"}, 422, "请选择事由"),
        ({"theme": "personal", "phone": "12345", "token": "tokentoken2"}, 422, "手机"),
        ({"theme": "personal", "bundle": w.restaurant.pk, "token": "tokentoken3"}, 422, "暂不提供"),
        ({"theme": "personal", "bundle": "abc", "token": "tokentoken4"}, 422, "暂不提供"),
        ({"theme": "weird", "token": "tokentoken5"}, 422, "请选择办事主题"),
        ({"theme": "personal", "token": "bad token!"}, 422, "取号令牌无效"),
    ]
    for data, status, text in cases:
        r = kiosk.post(f"/queue/{w.hall.pk}/take/", data)
        assert r.status_code == status and text in r.content.decode(), (data, r.status_code)
    assert not QueueTicket.objects.filter(hall=w.hall).exists()
    # What was typed is kept.
    r = kiosk.post(f"/queue/{w.hall.pk}/take/", {"theme": "personal", "green": "1", "phone": "13912345678", "token": "tokentoken6"})
    assert 'value="13912345678"' in r.content.decode()
    assert kiosk.get("/queue/999999/take/").status_code == 404
    w.hall.is_active = False
    w.hall.save()
    assert kiosk.get(f"/queue/{w.hall.pk}/take/").status_code == 404
    assert kiosk.get(f"/queue/{w.hall.pk}/screen/").status_code == 404


def test_window_page_bad_input(world):
    w = world
    r = w.c1.post("/queue/window/call/", {"window": "abc"})
    assert r.status_code == 404 and "未找到该窗口" in r.content.decode()
    r = w.c1.post("/queue/tickets/999999/start/", {"window": w.w1.pk})
    assert r.status_code == 404
    assert w.c1.post("/queue/tickets/1/explode/", {}).status_code == 404
    t = w.take()
    w.c1.post("/queue/window/call/", {"window": w.w1.pk})
    r = w.c1.post(f"/queue/tickets/{t.pk}/finish/", {"window": w.w1.pk})
    assert r.status_code == 409 and "不能办结" in r.content.decode()
    r = w.c1.post(f"/queue/tickets/{t.pk}/transfer/", {"window": w.w1.pk, "to_window": "x"})
    assert r.status_code == 422 and "请选择本大厅的其他窗口" in r.content.decode()
    r = w.c1.post(f"/queue/tickets/{t.pk}/start/", {"window": w.w1.pk, "case_no": "371327-20990101-999999"})
    assert r.status_code == 404 and "未找到该一件事办件" in r.content.decode()
    assert QueueTicket.objects.get(pk=t.pk).status == TicketStatus.CALLED
    assert w.c1.get("/queue/window/call/").status_code == 405


def test_clerk_screen_and_hall_screen(world):
    w = world
    w.take(bundle=w.birth)
    w.take(green=True, green_reason="disabled")
    r = w.c1.get("/queue/window/")
    body = r.content.decode()
    assert r.status_code == 200 and "叫下一位" in body and "个人全生命周期" in body and 'aria-current="page">叫号<' in body
    r = w.c1.post("/queue/window/call/", {"window": w.w1.pk})
    assert r.status_code == 302
    body = w.c1.get(r["Location"]).content.decode()
    assert "A001" in body and "请 A001 号到 1 号窗口" in body and "重呼" in body and "过号" in body and "开始办理" in body
    screen = Client().get(f"/queue/{w.hall.pk}/screen/")
    body = screen.content.decode()
    assert screen.status_code == 200 and "A001" in body and "号到 1 号窗口" in body and 'hx-trigger="every 5s"' in body
    assert "http://" not in body.split("<body")[0] and "https://" not in body.split("<body")[0]  # no external scripts or styles
    board = Client().get(f"/queue/{w.hall.pk}/screen/board/")
    assert board.status_code == 200 and "A001" in board.content.decode() and "<html" not in board.content.decode()
    # Start, then the bundle-less ticket links to the ordinary workbench; 办结 empties the window.
    t = QueueTicket.objects.get(hall=w.hall, number="A001")
    w.c1.post(f"/queue/tickets/{t.pk}/start/", {"window": w.w1.pk})
    body = w.c1.get(f"/queue/window/?window={w.w1.pk}").content.decode()
    assert "办结" in body and "/workbench/queue/" in body
    w.c1.post(f"/queue/tickets/{t.pk}/finish/", {"window": w.w1.pk})
    w.c1.post("/queue/window/call/", {"window": w.w1.pk})
    body = w.c1.get(f"/queue/window/?window={w.w1.pk}").content.decode()
    assert "G001" in body and "新生儿出生" in body and "已办结" in body


def test_traditional_chinese_and_elder_mode(world):
    w = world
    kiosk = Client()
    kiosk.cookies["tb_script"] = "hant"
    body = kiosk.get(f"/queue/{w.hall.pk}/take/").content.decode()
    assert "請選擇辦事主題" in body
    kiosk = Client()
    kiosk.cookies["tb_elder"] = "1"
    body = kiosk.get(f"/queue/{w.hall.pk}/take/?theme=personal").content.decode()
    assert 'class="elder' in body and "q-take" in body


def test_kiosk_rate_limit_per_address(world, settings):
    w = world
    settings.TONGBAN_QUEUE_TICKETS_PER_HOUR = 3
    kiosk = Client(REMOTE_ADDR="10.9.8.7")
    for n in range(3):
        r = kiosk.post(f"/queue/{w.hall.pk}/take/", {"theme": "ordinary", "token": f"ratelimit{n:04d}"})
        assert r.status_code == 302
    r = kiosk.post(f"/queue/{w.hall.pk}/take/", {"theme": "ordinary", "token": "ratelimit0009"})
    assert r.status_code == 429 and "取号过于频繁" in r.content.decode()
    assert QueueTicket.objects.filter(hall=w.hall).count() == 3
    # Another address is not affected.
    r = Client(REMOTE_ADDR="10.9.8.8").post(f"/queue/{w.hall.pk}/take/", {"theme": "ordinary", "token": "ratelimit0010"})
    assert r.status_code == 302


def test_demo_tickets_are_idempotent(db):
    from collections import Counter

    from tongban.queueing.demo import load_queue_demo

    hall = Hall.objects.create(name="莒南县政务服务中心", kind=Hall.COUNTY_HALL, region=Region.objects.get(code="371327"), address="演示地址")
    window = Window.objects.create(hall=hall, number="18", name="跨域通办专窗", kind=Window.CROSS_REGION)
    make_bundle("新生儿出生", "personal", "birth")
    created = Counter()
    load_queue_demo(created)
    load_queue_demo(created)
    assert created["queue_tickets"] == 4 and created["window_queues"] == len(Queue.values)
    assert services.served_queues(window) == list(Queue.values)
    tickets = {t.number: t for t in QueueTicket.objects.filter(hall=hall)}
    assert set(tickets) == {"G001", "G002", "Q001", "A001"} and tickets["G001"].bundle.name == "新生儿出生" and tickets["G002"].green

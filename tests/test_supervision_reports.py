"""Periodic supervision reports: the quarterly progress report (季度工作进展报告, draft → 报送, frozen) and the
periodic 通报 (rankings, 表扬/督促整改); their figures equal direct queries on the same data; Excel and PDF."""

import io
import re
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Q
from django.utils import timezone

from tests.test_supervision import World, at, direct_counts
from tongban.cases.models import Case
from tongban.catalog.models import ListEntry, TongbanList
from tongban.directory.models import Region
from tongban.evaluation.models import Evaluation, Rectification
from tongban.inquiries.models import Inquiry
from tongban.supervision import figures, reports, summary
from tongban.supervision.models import QuarterlyReport

pytestmark = pytest.mark.django_db
QUARTERLY = "/cockpit/reports/quarterly/"
BULLETIN = "/cockpit/reports/bulletin/"


@pytest.fixture
def world():
    w = World()
    summary.rebuild()
    return w


def this_quarter():
    year, q = reports.current_quarter()
    return year, q, f"{year}Q{q}", reports.quarter_period(year, q)


def quarter_filter(w, code, period, **kw):
    return figures.Filter(start=period.start, end=period.end, region_path=w.regions[code].path, **kw)


def pdf_title(body):
    """The document's /Title (a PDF string of UTF-16 with octal escapes), decoded."""
    i = body.index(b"/Title (") + len(b"/Title (")
    out, k = bytearray(), i
    while body[k:k + 1] != b")":
        ch = body[k:k + 1]
        if ch == b"\\":
            nxt = body[k + 1:k + 2]
            if nxt.isdigit():
                m = re.match(rb"[0-7]{1,3}", body[k + 1:k + 4])
                out.append(int(m.group(0), 8))
                k += 1 + len(m.group(0))
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(nxt, nxt)
            k += 2
            continue
        out += ch
        k += 1
    return bytes(out).decode("utf-16")


def test_periods_and_deadline():
    assert reports.deadline(2026, 4) == date(2026, 12, 25) and reports.deadline(2027, 1) == date(2027, 3, 25)
    p = reports.quarter_period(2026, 4)
    assert (p.start, p.end) == (date(2026, 10, 1), date(2026, 12, 31))
    p = reports.parse_period("2026-02")
    assert (p.start, p.end, p.key) == (date(2026, 2, 1), date(2026, 2, 28), "2026-02")
    assert reports.parse_quarter("2026q3") == (2026, 3)
    before = reports.deadline_status(2026, 4, today=date(2026, 11, 23))
    assert before["days_left"] == 32 and not before["overdue"] and "还剩 32 天" in before["text"]
    after = reports.deadline_status(2026, 3, today=date(2026, 10, 1))
    assert after["days_left"] == -6 and after["overdue"] and "已逾期 6 天" in after["text"]
    assert "今天截止" in reports.deadline_status(2026, 4, today=date(2026, 12, 25))["text"]
    for bad in ("2026Q5", "26Q1", "2026-13", "abc"):
        with pytest.raises(Exception) as exc:
            reports.parse_period(bad)
        assert getattr(exc.value, "status", None) == 400


def test_quarterly_figures_equal_direct_queries(world, staff_factory):
    user, _c = staff_factory("supervisor", "370000")
    year, q, _key, period = this_quarter()
    region = world.regions["370000"]
    data = reports.quarterly_figures(user, region, year, q)
    want = direct_counts(world, quarter_filter(world, "370000", period))
    assert {k: data["cases"][k] for k in want} == want
    for row in data["by_scope"]:
        want = direct_counts(world, quarter_filter(world, "370000", period, scope=row["scope"]))
        assert {k: row[k] for k in want} == want, row["scope"]
    assert [r["label"] for r in data["by_scope"]] == ["跨省通办", "全省通办", "全市通办"]
    lo, hi = at(period.start, 0), at(period.end + timedelta(days=1), 0)
    p = region.path
    handed = Case.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi).exclude(receiving_region_path="")
    assert data["handoffs"]["out"] == handed.filter(receiving_region_path__startswith=p).exclude(region_path__startswith=p).count()
    assert data["handoffs"]["in"] == handed.filter(region_path__startswith=p).exclude(receiving_region_path__startswith=p).count()
    ev = Evaluation.objects.filter(region_path__startswith=p, created_at__gte=lo, created_at__lt=hi, kind="initial", status="counted")
    assert data["ratings"]["ratings"] == ev.count() and data["ratings"]["bad"] == ev.filter(level__lte=2).count()
    inq = Inquiry.objects.filter(region_path__startswith=p, submitted_at__gte=lo, submitted_at__lt=hi)
    assert data["inquiries"]["received"] == inq.count()
    today = timezone.localdate()
    overdue = Case.objects.filter(region_path__startswith=p, status__in=figures.OPEN_STATUSES, due_date__lt=today, submitted_at__lt=hi)
    assert data["problems"]["overdue_cases_total"] == overdue.count()
    assert {r["case_no"] for r in data["problems"]["overdue_cases"]} == set(overdue.values_list("case_no", flat=True))
    open_rect = Rectification.objects.filter(region_path__startswith=p, evaluation__created_at__gte=lo, evaluation__created_at__lt=hi).exclude(
        status__in=("done", "excluded"))
    assert data["problems"]["unrectified_total"] == open_rect.count()
    late_inq = inq.filter(Q(replied_at__isnull=True, due_date__lt=today) | Q(status="escalated"))
    assert data["problems"]["overdue_inquiries_total"] == late_inq.count()
    assert data["top_items"] and data["top_items"][0]["received"] >= data["top_items"][-1]["received"]


def test_list_items_counted_for_the_region(world):
    province = world.regions["370000"]
    lst = TongbanList.objects.create(name="山东省跨省通办清单", scope="cross_province", region=province)
    ListEntry.objects.create(tongban_list=lst, seq=1, item_name="甲", status=ListEntry.IMPLEMENTED)
    ListEntry.objects.create(tongban_list=lst, seq=2, item_name="乙")
    other = TongbanList.objects.create(name="北京市清单", scope="province_wide", region=world.regions["110000"])
    ListEntry.objects.create(tongban_list=other, seq=1, item_name="丙")
    got = reports.list_items(world.regions["371327"])  # the county is under the province's list
    assert got["items"] == 2 and got["implemented"] == 1 and got["by_scope"]["cross_province"]["items"] == 2
    other.partner_regions.add(world.regions["371300"])  # a partner city's counties see it too
    assert reports.list_items(world.regions["371327"])["items"] == 3
    assert reports.list_items(world.regions["110105"])["items"] == 1


def test_draft_then_submit_frozen_and_second_submit_409(world, staff_factory):
    user, c = staff_factory("supervisor", "371327")
    year, q, key, _p = this_quarter()
    region = world.regions["371327"]
    page = c.get(QUARTERLY, {"region": region.path, "quarter": key})
    assert page.status_code == 200
    html = page.content.decode()
    assert "莒南县" in html and 'data-status="new"' in html and f'data-deadline="{reports.deadline(year, q):%Y-%m-%d}"' in html
    # Submitting an empty text is refused with a Chinese message, nothing written.
    r = c.post(QUARTERLY, {"region": region.path, "quarter": key, "action": "submit"})
    assert r.status_code == 400 and "请先填写" in r.content.decode()
    assert not QuarterlyReport.objects.exists()
    r = c.post(QUARTERLY, {"region": region.path, "quarter": key, "action": "save", "measures": "推行异地代收代办", "problems": "", "plans": ""})
    assert r.status_code == 302
    report = QuarterlyReport.objects.get()
    assert report.status == "draft" and report.measures == "推行异地代收代办"
    assert report.figures["cases"]["received"] == direct_counts(world, quarter_filter(world, "371327", reports.quarter_period(year, q)))["received"]
    r = c.post(QUARTERLY, {"region": region.path, "quarter": key, "action": "submit", "measures": "推行异地代收代办", "problems": "人手不足",
                           "plans": "扩大清单"})
    assert r.status_code == 302
    report.refresh_from_db()
    assert report.status == "submitted" and report.submitted_by == user and report.submitted_at and report.problems == "人手不足"
    from tongban.core.models import AuditEntry

    assert AuditEntry.objects.filter(action="quarterly_report_submit", object_id=str(report.pk), actor=user).count() == 1
    frozen_received = report.figures["cases"]["received"]
    # New data after 报送 does not change the frozen report.
    world.case(("a", "jn"), "online", timezone.now() - timedelta(minutes=5), None, None, None, None)
    summary.rebuild()
    html = c.get(QUARTERLY, {"region": region.path, "quarter": key}).content.decode()
    assert 'data-status="submitted"' in html and "内容已锁定" in html and "<textarea" not in html
    assert reports.view(user, region, year, q)[1]["cases"]["received"] == frozen_received
    assert reports.quarterly_figures(user, region, year, q)["cases"]["received"] == frozen_received + 1
    for action in ("submit", "save"):
        r = c.post(QUARTERLY, {"region": region.path, "quarter": key, "action": action, "measures": "改"})
        assert r.status_code == 409 and ("不能重复报送" in r.content.decode() or "不能再修改" in r.content.decode())
    report.refresh_from_db()
    assert report.measures == "推行异地代收代办"


def test_permissions(world, staff_factory):
    _u, other = staff_factory("supervisor", "371302")
    key = this_quarter()[2]
    jn = world.regions["371327"].path
    assert other.get(QUARTERLY, {"region": jn, "quarter": key}).status_code == 403
    assert other.post(QUARTERLY, {"region": jn, "quarter": key, "action": "save", "measures": "x"}).status_code == 403
    assert other.get("/cockpit/reports/quarterly.pdf", {"region": jn, "quarter": key}).status_code == 403
    assert other.get(BULLETIN, {"region": jn}).status_code == 403
    assert other.get("/cockpit/reports/bulletin.xlsx", {"region": world.regions["371300"].path}).status_code == 403
    assert not QuarterlyReport.objects.exists()
    _u, clerk = staff_factory("clerk", "371327", world.d_jn)
    assert clerk.get("/cockpit/reports/").status_code == 403
    assert clerk.get(QUARTERLY, {"region": jn, "quarter": key}).status_code == 403
    _u, city = staff_factory("supervisor", "371300")
    assert city.get(QUARTERLY, {"region": jn, "quarter": key}).status_code == 200  # a region below their own
    assert city.get(QUARTERLY, {"region": jn, "quarter": "2026Q9"}).status_code == 400
    assert "季度格式不正确" in city.get(QUARTERLY, {"region": jn, "quarter": "abc"}).content.decode()
    assert city.get(BULLETIN, {"region": jn, "period": "2026-99"}).status_code == 400
    assert city.get(QUARTERLY, {"region": "999999", "quarter": key}).status_code == 404
    index = city.get("/cockpit/reports/")
    assert index.status_code == 200 and "季度工作进展报告" in index.content.decode()
    city.cookies["tb_script"] = "hant"  # Traditional Chinese through the site's middleware
    hant = city.get(QUARTERLY, {"region": jn, "quarter": key}).content.decode()
    assert "季度工作進展報告" in hant and "報送" in hant
    del city.cookies["tb_script"]
    assert "季度报告与通报" in city.get("/cockpit/").content.decode()


def test_quarterly_pdf_and_xlsx(world, staff_factory):
    from openpyxl import load_workbook

    _u, c = staff_factory("supervisor", "370000")
    year, q, key, period = this_quarter()
    params = {"region": world.regions["371300"].path, "quarter": key}
    pdf = c.get("/cockpit/reports/quarterly.pdf", params)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "临沂市" in pdf_title(pdf.content) and f"{year}年第{q}季度" in pdf_title(pdf.content)
    r = c.get("/cockpit/reports/quarterly.xlsx", params)
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["封面", "总体", "跨域流转", "清单与事项", "存在问题"]
    cover = {row[0]: row[1] for row in wb["封面"].iter_rows(values_only=True)}
    assert cover["区划"] == "临沂市" and cover["期间"] == f"{year}年第{q}季度"
    overview = {row[0]: row[1] for row in wb["总体"].iter_rows(values_only=True) if row and row[0]}
    want = direct_counts(world, quarter_filter(world, "371300", period))
    assert overview["收件数"] == want["received"] and overview["办结数"] == want["concluded"] and overview["超期数"] == want["overdue"]
    partners = {row[0]: row[1:3] for row in wb["跨域流转"].iter_rows(values_only=True) if row and row[0] == "北京市"}
    lo, hi = at(period.start, 0), at(period.end + timedelta(days=1), 0)
    in_bj = Case.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi, region_path__startswith=world.regions["371300"].path,
                                receiving_region_path__startswith=world.regions["110000"].path).count()
    out_bj = Case.objects.filter(submitted_at__gte=lo, submitted_at__lt=hi, receiving_region_path__startswith=world.regions["371300"].path,
                                 region_path__startswith=world.regions["110000"].path).count()
    if in_bj or out_bj:
        assert partners["北京市"] == (out_bj, in_bj)
    # A submitted report carries its text and 报送 details in both documents.
    c.post(QUARTERLY, {**params, "action": "submit", "measures": "建立协同机制", "problems": "", "plans": ""})
    wb = load_workbook(io.BytesIO(c.get("/cockpit/reports/quarterly.xlsx", params).content))
    assert "工作情况" in wb.sheetnames
    assert ("工作举措", "建立协同机制") in [tuple(r[:2]) for r in wb["工作情况"].iter_rows(values_only=True)]
    assert {row[0]: row[1] for row in wb["封面"].iter_rows(values_only=True)}["状态"] == "已报送"


def test_bulletin_ranks_departments_by_composite_score(world, staff_factory):
    user, c = staff_factory("supervisor", "000000")
    _y, _q, key, period = this_quarter()
    region = Region.objects.get(code="000000")
    data = reports.bulletin(user, region, period)
    rows = {u["name"]: u for u in data["departments"]["rows"]}
    for dept in (world.d_jn, world.d_ls, world.d_bj):
        f = figures.Filter(start=period.start, end=period.end, region_path=region.path, department_id=dept.pk)
        want = direct_counts(world, f)
        if dept.name not in rows:
            assert want["received"] == 0
            continue
        u = rows[dept.name]
        assert u["received"] == want["received"] and u["concluded_on_time"] == want["concluded_on_time"]
        r = figures.ratings(user, f)
        assert u["satisfaction_rate"] == r["satisfaction_rate"] and u["rectification_rate"] == r["rectification_rate"]
        have = [(u[k], w) for k, _l, w in reports.WEIGHTS if u[k] is not None]
        assert u["score"] == round(100 * sum(v * w for v, w in have) / sum(w for _v, w in have), 1)
    scored = [u for u in data["departments"]["rows"] if u["score"] is not None]
    assert [u["score"] for u in scored] == sorted((u["score"] for u in scored), reverse=True)
    assert [u["rank"] for u in scored] == list(range(1, len(scored) + 1))
    if len(scored) >= 2:
        assert data["departments"]["praise"][0] == scored[0]["name"] and data["departments"]["urge"][0] == scored[-1]["name"]
        assert not set(data["departments"]["praise"]) & set(data["departments"]["urge"])
    # The child regions of the country: the two provinces.
    assert {u["name"] for u in data["regions"]["rows"]} <= {"山东省", "北京市"} and data["regions"]["rows"]
    html = c.get(BULLETIN, {"region": region.path, "period": key}).content.decode()
    assert "按时办结率40%" in html and "表扬" in html and "督促整改" in html and world.d_jn.name in html
    r = c.get("/cockpit/reports/bulletin.pdf", {"region": region.path, "period": key})
    assert r.content.startswith(b"%PDF") and "全国" in pdf_title(r.content) and "通报" in pdf_title(r.content)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(c.get("/cockpit/reports/bulletin.xlsx", {"region": region.path, "period": key}).content))
    assert wb.sheetnames == ["封面", "部门排名", "地区排名"]
    names = [row[1] for row in wb["部门排名"].iter_rows(values_only=True) if row and isinstance(row[0], int)]
    assert names == [u["name"] for u in scored]
    month = c.get(BULLETIN, {"region": region.path, "period": timezone.localdate().strftime("%Y-%m")})
    assert month.status_code == 200 and f"{timezone.localdate().year}年{timezone.localdate().month}月" in month.content.decode()


def test_composite_rescales_missing_rates():
    assert reports.composite({"on_time_rate": 1.0, "satisfaction_rate": None, "rectification_rate": None, "inquiry_rate": 0.5}) == round(
        100 * (40 + 7.5) / 55, 1)
    assert reports.composite({"on_time_rate": None, "satisfaction_rate": None, "rectification_rate": None, "inquiry_rate": None}) is None


def test_command_writes_pdf_and_xlsx(world, tmp_path, capsys):
    key = this_quarter()[2]
    out = tmp_path / "q.pdf"
    call_command("supervision_report", "--region", "371327", "--quarter", key, "--format", "pdf", "--out", str(out))
    assert out.read_bytes().startswith(b"%PDF") and "莒南县" in pdf_title(out.read_bytes())
    assert "已生成莒南县" in capsys.readouterr().out
    out = tmp_path / "b.xlsx"
    call_command("supervision_report", "--region", "371300", "--period", key, "--format", "xlsx", "--out", str(out))
    from openpyxl import load_workbook

    assert "部门排名" in load_workbook(out).sheetnames
    with pytest.raises(CommandError, match="季度格式不正确"):
        call_command("supervision_report", "--region", "371327", "--quarter", "2026Q7", "--out", str(out))
    with pytest.raises(CommandError, match="区划不存在"):
        call_command("supervision_report", "--region", "999999", "--quarter", key, "--out", str(out))


def test_problem_lists_mask_personal_data(world, staff_factory):
    user, _c = staff_factory("supervisor", "370000")
    year, q, _key, period = this_quarter()
    d = world.d_jn
    Inquiry.objects.create(kind="complaint", title="请回电13912345678", content="内容", inquirer_phone="13912345678", region=d.region,
                           region_path=d.region.path, department=d, submitted_at=at(period.start, 9) if period.start < timezone.localdate() else timezone.now(),
                           due_date=timezone.localdate() - timedelta(days=1), status="assigned")
    data = reports.quarterly_figures(user, world.regions["370000"], year, q)
    titles = [r["title"] for r in data["problems"]["overdue_inquiries"]]
    assert any(t.startswith("请回电139") for t in titles) and not any("13912345678" in t for t in titles)

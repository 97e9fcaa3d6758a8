"""The supervision reports as downloadable documents: Excel (openpyxl, like /cockpit/export.xlsx) and
PDF (reportlab with the CJK font embedded by tongban.cases.documents). Both render the same data dict
that reports.py builds (for a submitted quarterly report: its frozen snapshot)."""

import io
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from tongban.cases.documents import _font_name

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def pct(v):
    return "—" if v is None else f"{v * 100:.1f}%"


def num(v):
    return "—" if v is None else v


# --- row builders shared by Excel and PDF ------------------------------------------------------------


def quarterly_sections(data, report=None):
    """[(title, header row or None, rows)] of the quarterly report."""
    c, r, q, h = data["cases"], data["ratings"], data["inquiries"], data["handoffs"]
    overview = [
        ["收件数", c["received"]], ["受理数", c["accepted"]], ["办结数", c["concluded"]], ["按时办结数", c["concluded_on_time"]],
        ["按时办结率", pct(c["on_time_rate"])], ["超期数", c["overdue"]], ["其中：在办超期", c["open_overdue"]],
        ["平均办理工作日", num(c["avg_work_days"])],
        ["跨域转出（本地收件、异地办理）", h["out"]], ["跨域转入（异地收件、本地办理）", h["in"]],
        ["评价数", r["ratings"]], ["满意率", pct(r["satisfaction_rate"])], ["差评数", r["bad"]],
        ["差评整改数", r["rectifications"]], ["已整改", r["rectified"]], ["差评整改率", pct(r["rectification_rate"])],
        ["咨询投诉建议数", q["received"]], ["已答复", q["replied"]], ["按时答复", q["replied_on_time"]], ["超期未答复/督办", q["overdue"]],
        ["答复满意率", pct(q["satisfaction_rate"])],
        ["通办清单事项数", data["list_items"]["items"]], ["其中已实现", data["list_items"]["implemented"]],
    ]
    scope_rows = [[s["label"], s["received"], s["accepted"], s["concluded"], s["concluded_on_time"], pct(s["on_time_rate"]), s["overdue"],
                   num(s["avg_work_days"])] for s in data["by_scope"]]
    partners = [[p["partner"], p["out"], p["in"]] for p in h["partners"]]
    lists = [[v["label"], v["items"], v["implemented"]] for v in data["list_items"]["by_scope"].values()]
    items = [[i["name"], i["received"], i["concluded"], pct(i["on_time_rate"])] for i in data["top_items"]]
    p = data["problems"]
    sections = [
        ("一、总体情况", ["指标", "数值"], overview),
        ("二、按通办范围", ["通办范围", "收件", "受理", "办结", "按时办结", "按时办结率", "超期", "平均工作日"], scope_rows),
        ("三、跨域流转（按合作省份）", ["合作区划", "转出", "转入"], partners),
        ("四、通办清单事项", ["通办范围", "清单事项数", "已实现"], lists),
        ("五、办件量前十的事项", ["事项", "收件", "办结", "按时办结率"], items),
        (f"六、存在的问题：在办超期办件（共{p['overdue_cases_total']}件）", ["办件编号", "事项", "办理部门", "办理期限", "超期天数"],
         [[x["case_no"], x["item"], x["department"], x["due_date"], x["days_over"]] for x in p["overdue_cases"]]),
        (f"未完成整改的差评（共{p['unrectified_total']}件）", ["事项", "责任部门", "状态", "整改期限"],
         [[x["item"], x["department"], x["status"], x["deadline"]] for x in p["unrectified"]]),
        (f"超期未答复的咨询投诉建议（共{p['overdue_inquiries_total']}件）", ["编号", "标题", "承办部门", "答复期限", "状态"],
         [[x["no"], x["title"], x["department"], x["due_date"], x["status"]] for x in p["overdue_inquiries"]]),
    ]
    if report is not None:
        sections.append(("七、工作举措、存在问题和下一步计划", ["项目", "内容"],
                         [["工作举措", report.measures or "（未填写）"], ["存在问题", report.problems or "（未填写）"],
                          ["下一步计划", report.plans or "（未填写）"]]))
    return sections


def _unit_rows(units):
    return [[u["rank"] or "—", u["name"], u["score"] if u["score"] is not None else "—", u["received"], pct(u["on_time_rate"]),
             u["ratings"], pct(u["satisfaction_rate"]), pct(u["rectification_rate"]), u["inquiries"], pct(u["inquiry_rate"])]
            for u in units["rows"]]


UNIT_HEAD = ["名次", "单位", "综合得分", "收件", "按时办结率", "评价数", "满意率", "差评整改率", "咨询投诉", "按时答复率"]


def bulletin_sections(data):
    weights = "，".join(f"{w['label']}{w['weight']}%" for w in data["weights"])
    d, r = data["departments"], data["regions"]
    sections = [
        ("计分办法", ["说明"], [[f"综合得分 = {weights}（满分100分；某项无数据的单位按其余各项权重折算）；前20%予以表扬，后20%督促整改。"]]),
        ("一、部门排名", UNIT_HEAD, _unit_rows(d)),
        ("表扬（部门）", ["单位"], [[n] for n in d["praise"]]),
        ("督促整改（部门）", ["单位"], [[n] for n in d["urge"]]),
    ]
    if r["rows"]:
        sections += [
            ("二、下级地区排名", UNIT_HEAD, _unit_rows(r)),
            ("表扬（地区）", ["地区"], [[n] for n in r["praise"]]),
            ("督促整改（地区）", ["地区"], [[n] for n in r["urge"]]),
        ]
    return sections


# --- Excel ------------------------------------------------------------------------------------------


def _xlsx(title_rows, sheets):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "封面"
    for row in title_rows:
        ws.append(row)
    for name, sections in sheets:
        sheet = wb.create_sheet(name)
        for title, head, rows in sections:
            sheet.append([title])
            if head:
                sheet.append(head)
            for row in rows:
                sheet.append(list(row))
            if not rows:
                sheet.append(["（无）"])
            sheet.append([])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cover(kind, data, report=None):
    rows = [["报告", kind], ["区划", data["region"]["name"]], ["区划代码", data["region"]["code"]], ["期间", data["period"]["label"]],
            ["统计起止", f"{data['period']['start']} 至 {data['period']['end']}"], ["生成时间", _now()]]
    if report is not None:
        rows.append(["状态", report.get_status_display()])
        if report.submitted_at:
            rows.append(["报送人", report.submitted_by_name])
            rows.append(["报送时间", f"{timezone.localtime(report.submitted_at):%Y-%m-%d %H:%M}"])
    return rows


def _now():
    return f"{timezone.localtime():%Y-%m-%d %H:%M}"


def quarterly_xlsx(data, report=None):
    sections = quarterly_sections(data, report)
    sheets = [("总体", sections[:2]), ("跨域流转", sections[2:3]), ("清单与事项", sections[3:5]), ("存在问题", sections[5:8])]
    if report is not None:
        sheets.append(("工作情况", sections[8:]))
    return _xlsx(_cover("季度工作进展报告", data, report), sheets)


def bulletin_xlsx(data):
    sections = bulletin_sections(data)
    sheets = [("部门排名", sections[:4])]
    if len(sections) > 4:
        sheets.append(("地区排名", sections[4:]))
    return _xlsx(_cover("定期通报", data), sheets)


# --- PDF --------------------------------------------------------------------------------------------


def _styles():
    font = _font_name()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=18, leading=26, alignment=1, spaceAfter=4 * mm),
        "meta": ParagraphStyle("meta", fontName=font, fontSize=10, leading=15, alignment=1),
        "h": ParagraphStyle("h", fontName=font, fontSize=12, leading=18, spaceBefore=4 * mm, spaceAfter=2 * mm),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11),
        "text": ParagraphStyle("text", fontName=font, fontSize=10, leading=16),
    }


def _pdf(kind, data, sections, report=None):
    st = _styles()
    buf = io.BytesIO()
    region, period = data["region"]["name"], data["period"]["label"]
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"{region}{period}{kind}", author="通办 Tongban", subject=f"{data['region']['code']} {data['period']['label']}")
    story = [Paragraph(escape(f"{region}{period}{kind}"), st["title"]),
             Paragraph(escape(f"区划：{region}（{data['region']['code']}）　统计期间：{data['period']['start']} 至 {data['period']['end']}"), st["meta"]),
             Paragraph(escape(f"生成日期：{timezone.localdate():%Y年%m月%d日}" + _status_line(report)), st["meta"]), Spacer(1, 4 * mm)]
    for title, head, rows in sections:
        story.append(Paragraph(escape(title), st["h"]))
        if not rows:
            story.append(Paragraph("（无）", st["text"]))
            continue
        table = [[Paragraph(escape(str(v)), st["cell"]) for v in head]] + [[Paragraph(escape(str(v)), st["cell"]) for v in row] for row in rows]
        t = Table(table, repeatRows=1, hAlign="LEFT", colWidths=_widths(len(head)))
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(t)
    doc.build(story)
    return buf.getvalue()


def _widths(n):
    total = 180 * mm
    if n == 1:
        return [total]
    if n == 2:
        return [50 * mm, 130 * mm]
    first = 50 * mm if n <= 5 else 38 * mm
    return [first] + [(total - first) / (n - 1)] * (n - 1)


def _status_line(report):
    if report is None:
        return ""
    if report.submitted_at:
        return f"　已报送：{report.submitted_by_name} {timezone.localtime(report.submitted_at):%Y-%m-%d %H:%M}"
    return "　草稿（未报送）"


def quarterly_pdf(data, report=None):
    return _pdf("季度工作进展报告", data, quarterly_sections(data, report), report)


def bulletin_pdf(data):
    return _pdf("政务服务定期通报", data, bulletin_sections(data))

"""Official notices of a case (办件文书) as PDF, with an embedded TrueType CJK font.

`render(kind, ctx)` turns a plain dict (built by the caller from the case) into a complete A4 PDF laid
out like a Chinese government notice: centred title, document number, addressee, body, a case summary
table, a QR code of the public tracking URL and the issuing department with the date at bottom right.

The font (WenQuanYi Zen Hei, Debian `fonts-wqy-zenhei`) is embedded as a subset so the notice prints
the same everywhere. The output is invariant: the same ctx gives the same bytes, because issued
documents are stored content-addressed.
"""

import io
import os
import threading
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

import segno
from django.conf import settings
from reportlab.lib import colors
from reportlab.lib import textsplit as _rl_textsplit
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus import paragraph as _rl_paragraph

KINDS = {
    "receipt": "收件凭证",
    "acceptance": "受理通知书",
    "refusal": "不予受理通知书",
    "supplement": "补齐补正通知书",
    "conclusion": "办结通知书",
    "denial": "不予许可通知书",
}

DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
DEFAULT_REMEDY = "如对本决定不服，可在收到本通知书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。"
CREATOR = "通办政务服务平台"

# CaseMaterial.how codes, should the caller pass them raw instead of their labels.
HOW_LABELS = {"online": "网上上传", "window": "窗口收取", "reuse": "数据共享复用", "mail": "邮寄"}


class DocumentError(Exception):
    pass


# Chinese line-start rules (避头点): reportlab's CJK wrapping knows the Japanese list, which lacks the
# full-width comma, colon, semicolon, ! and ? and the closing quotes and book-title marks, so
# "理由如下：" could leave "：" alone at the start of a line. Extending the list only adds characters
# that may never start a line.
_CANNOT_START_ZH = "，；：！？》〉」』】〗〕”’…—"
for _module in (_rl_textsplit, _rl_paragraph):  # single-fragment and multi-fragment paragraphs
    _module.ALL_CANNOT_START += "".join(c for c in _CANNOT_START_ZH if c not in _module.ALL_CANNOT_START)


_font_lock = threading.Lock()
_registered = {}  # font path -> registered font name


def _font_name():
    """Register the CJK font once per process (parsing the 16 MB collection takes a moment)."""
    path = str(getattr(settings, "TONGBAN_PDF_FONT", DEFAULT_FONT_PATH) or DEFAULT_FONT_PATH)
    with _font_lock:
        if path in _registered:
            return _registered[path]
        if not os.path.isfile(path):
            raise DocumentError(f"未找到中文字体文件 {path}，请安装 fonts-wqy-zenhei")
        name = f"TongbanCJK{len(_registered)}"
        try:
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
        except Exception as exc:  # a damaged or non-TrueType file
            raise DocumentError(f"无法读取中文字体文件 {path}：{exc}") from None
        # <b>/<i> in our own markup must not look for a missing bold face.
        pdfmetrics.registerFontFamily(name, normal=name, bold=name, italic=name, boldItalic=name)
        _registered[path] = name
        return name


# --- small text helpers --------------------------------------------------------------------------


def _s(value):
    """A ctx value as display text ('' for None)."""
    return "" if value is None else str(value).strip()


def _e(value):
    """A ctx value as Paragraph markup: user text never becomes markup; line breaks are kept."""
    return escape(_s(value)).replace("\r\n", "\n").replace("\n", "<br/>")


def _days(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _fee(value):
    """'120.00' -> '120.00'; empty, zero or not a number -> ''."""
    text = _s(value)
    try:
        return text if text and Decimal(text) > 0 else ""
    except InvalidOperation:
        return text


# --- styles --------------------------------------------------------------------------------------


class _Styles:
    def __init__(self, font):
        base = dict(fontName=font, wordWrap="CJK", textColor=colors.black)
        self.title = ParagraphStyle("title", fontSize=22, leading=30, alignment=TA_CENTER, spaceAfter=4 * mm, **base)
        self.number = ParagraphStyle("number", fontSize=11, leading=16, alignment=TA_RIGHT, spaceAfter=5 * mm, **base)
        self.addressee = ParagraphStyle("addressee", fontSize=14, leading=24, alignment=TA_LEFT, spaceAfter=1 * mm, **base)
        self.body = ParagraphStyle("body", fontSize=14, leading=24, alignment=TA_JUSTIFY, firstLineIndent=28, spaceAfter=2 * mm, **base)
        self.heading = ParagraphStyle("heading", fontSize=12, leading=18, alignment=TA_LEFT, spaceBefore=3 * mm, spaceAfter=2 * mm, **base)
        self.cell = ParagraphStyle("cell", fontSize=10.5, leading=15, alignment=TA_LEFT, **base)
        self.cell_head = ParagraphStyle("cell_head", fontSize=10.5, leading=15, alignment=TA_CENTER, **base)
        self.cell_centre = ParagraphStyle("cell_centre", fontSize=10.5, leading=15, alignment=TA_CENTER, **base)
        self.caption = ParagraphStyle("caption", fontSize=9, leading=12, alignment=TA_CENTER, **base)
        self.sign = ParagraphStyle("sign", fontSize=14, leading=24, alignment=TA_RIGHT, **base)
        self.footer = ParagraphStyle("footer", fontSize=9, leading=12, alignment=TA_CENTER, **base)
        self.font = font


FRAME_WIDTH = A4[0] - 2 * 25 * mm - 12  # SimpleDocTemplate's frame pads 6 pt on each side


def _grid(rows, widths, styles, header=True):
    """A ruled table of Paragraph cells (long text wraps); the header row repeats on each page."""
    data = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            if isinstance(cell, Paragraph):
                cells.append(cell)
            else:
                style = styles.cell_head if header and r == 0 else (styles.cell_centre if c == 0 else styles.cell)
                cells.append(Paragraph(cell, style))
        data.append(cells)
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0, hAlign="CENTER")
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)))
    table.setStyle(TableStyle(commands))
    return table


def _summary(ctx, styles):
    """办件信息: a two-column label/value table."""
    rows = [
        ("办件编号", ctx.get("case_no")),
        ("事项名称", ctx.get("item_name")),
        ("实施编码", ctx.get("implementation_code") or ctx.get("item_code")),
        ("申请人", ctx.get("applicant_name")),
        ("证件号码", ctx.get("applicant_code_masked")),
    ]
    if _s(ctx.get("agent_name")):
        rows.append(("经办人", ctx.get("agent_name")))
    if _s(ctx.get("contact_phone_masked")):
        rows.append(("联系电话", ctx.get("contact_phone_masked")))
    rows.append(("办理部门", ctx.get("department_name")))
    if _s(ctx.get("region_name")):
        rows.append(("办理地", ctx.get("region_name")))
    label_style = ParagraphStyle("label", parent=styles.cell, alignment=TA_CENTER)
    data = [[Paragraph(escape(label), label_style), Paragraph(_e(value) or "—", styles.cell)] for label, value in rows]
    table = _grid(data, [32 * mm, FRAME_WIDTH - 32 * mm], styles, header=False)
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), colors.Color(0.95, 0.95, 0.95))]))
    return [Paragraph("办件信息", styles.heading), table]


def _qr_image(url, size=30 * mm):
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=6, border=2)
    buf.seek(0)
    return Image(buf, width=size, height=size)


def _closing(ctx, styles):
    """QR code with its caption at left; department, seal placeholder and date at right."""
    sign_name = _s(ctx.get("department_seal_name")) or _s(ctx.get("department_name"))
    right = [
        Paragraph(escape(sign_name) or "&nbsp;", styles.sign),
        Paragraph("（印章）", styles.sign),
        Paragraph(escape(_s(ctx.get("issued_at"))) or "&nbsp;", styles.sign),
    ]
    url = _s(ctx.get("query_url"))
    left = [_qr_image(url), Paragraph("扫码查询办理进度", styles.caption)] if url else [Spacer(1, 1)]
    table = Table([[left, right]], colWidths=[40 * mm, FRAME_WIDTH - 40 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    return [Spacer(1, 8 * mm), KeepTogether([table])]


# --- bodies per kind -----------------------------------------------------------------------------


def _application_phrase(ctx):
    """'你（单位）于2026年11月22日提出的××申请' with whatever parts are known."""
    when = _e(ctx.get("submitted_at"))
    item = _e(ctx.get("item_name"))
    return f"你（单位）{'于' + when if when else ''}提出的{item}申请"


def _remedy(ctx):
    return _e(ctx.get("remedy")) or escape(DEFAULT_REMEDY)


def _body_receipt(ctx, styles):
    when = _e(ctx.get("submitted_at"))
    item = _e(ctx.get("item_name"))
    flow = [Paragraph(
        f"你（单位）{'于' + when if when else ''}提交的{item}申请材料已收到，清单如下。"
        "本凭证仅证明本机关已收到上列材料，不表示申请已被受理；本机关将依法审查并告知是否受理。", styles.body)]
    materials = ctx.get("materials") or []
    rows = [["序号", "材料名称", "提交方式", "数量"]]
    for i, m in enumerate(materials, 1):
        how = _s(m.get("how"))
        rows.append([str(i), _e(m.get("name")), escape(HOW_LABELS.get(how, how)), _e(m.get("count"))])
    if len(rows) == 1:
        rows.append(["—", "（无）", "", ""])
    flow += [Paragraph("收取材料清单", styles.heading), _grid(rows, [14 * mm, FRAME_WIDTH - 14 * mm - 34 * mm - 18 * mm, 34 * mm, 18 * mm], styles)]
    return flow


def _body_acceptance(ctx, styles):
    text = f"{_application_phrase(ctx)}，经审查，申请材料齐全、符合法定形式，本机关决定予以受理。"
    due, days = _e(ctx.get("due_date")), _days(ctx.get("promised_days"))
    if due and days:
        text += f"承诺于{due}前（{days}个工作日）办结。"
    elif due:
        text += f"承诺于{due}前办结。"
    elif days:
        text += f"承诺自受理之日起{days}个工作日内办结。"
    statutory = _days(ctx.get("statutory_days"))
    if statutory:
        text += f"法定办结时限为{statutory}个工作日。"
    flow = [Paragraph(text, styles.body)]
    fee = _fee(ctx.get("fee_amount"))
    if fee:
        flow.append(Paragraph(f"本事项依法应缴纳费用{escape(fee)}元，请按规定缴纳。", styles.body))
    flow.append(Paragraph("办理期间依法需要补齐补正材料或者履行听证、专家评审、现场勘验、公示等特别程序的，所需时间不计入办理时限。", styles.body))
    return flow


def _body_refusal(ctx, styles):
    flow = [Paragraph(f"{_application_phrase(ctx)}，经审查，本机关决定不予受理，理由如下：", styles.body)]
    flow.append(Paragraph(_e(ctx.get("reason")) or "（未说明理由）", styles.body))
    flow.append(Paragraph(_remedy(ctx), styles.body))
    return flow


def _body_supplement(ctx, styles):
    flow = [Paragraph(
        f"{_application_phrase(ctx)}，经审查，申请材料不齐全或者不符合法定形式。"
        "现将需要补齐补正的全部内容一次性告知如下：", styles.body)]
    rows = [["序号", "材料或内容", "存在问题及补正要求"]]
    for i, item in enumerate(ctx.get("supplement_items") or [], 1):
        rows.append([str(i), _e(item.get("name")), _e(item.get("problem"))])
    if len(rows) == 1:
        rows.append(["—", "（无）", ""])
    name_w = 55 * mm
    flow.append(_grid(rows, [14 * mm, name_w, FRAME_WIDTH - 14 * mm - name_w], styles))
    flow.append(Spacer(1, 3 * mm))
    note = _e(ctx.get("supplement_note"))
    if note:
        flow.append(Paragraph(f"说明：{note}", styles.body))
    flow.append(Paragraph("请补齐补正后重新提交；补齐补正期间不计入办理时限。", styles.body))
    return flow


def _body_conclusion(ctx, styles):
    result = _e(ctx.get("result_name"))
    flow = [Paragraph(f"{_application_phrase(ctx)}，本机关已依法办结{('，办理结果为' + result) if result else ''}。", styles.body)]
    rows = [
        ("办理结果", ctx.get("result_name")),
        ("证照编号", ctx.get("certificate_no")),
        ("送达方式", ctx.get("delivery_method_label")),
    ]
    fee = _fee(ctx.get("fee_amount"))
    if fee:
        rows.append(("收费金额", f"{fee}元"))
    data = [[escape(label), _e(value) or "—"] for label, value in rows]
    table = _grid(data, [32 * mm, FRAME_WIDTH - 32 * mm], styles, header=False)
    flow += [Paragraph("办理结果", styles.heading), table, Spacer(1, 2 * mm)]
    method = _e(ctx.get("delivery_method_label"))
    if method:
        flow.append(Paragraph(f"办理结果将以{method}方式送达，请注意查收。", styles.body))
    return flow


def _body_denial(ctx, styles):
    accepted = _e(ctx.get("accepted_at"))
    text = f"{_application_phrase(ctx)}，本机关{('已于' + accepted + '受理') if accepted else '已依法受理'}。经审查，决定不予许可，理由如下："
    flow = [Paragraph(text, styles.body)]
    flow.append(Paragraph(_e(ctx.get("reason")) or "（未说明理由）", styles.body))
    flow.append(Paragraph(_remedy(ctx), styles.body))
    return flow


BODIES = {
    "receipt": _body_receipt,
    "acceptance": _body_acceptance,
    "refusal": _body_refusal,
    "supplement": _body_supplement,
    "conclusion": _body_conclusion,
    "denial": _body_denial,
}


def _page_footer(styles):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont(styles.font, 9)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, f"— {doc.page} —")
        canvas.restoreState()

    return draw


def render(kind, ctx):
    """A complete PDF (bytes) of the notice `kind` for the case described by `ctx`."""
    if kind not in KINDS:
        raise DocumentError(f"未知的文书种类：{kind}")
    ctx = dict(ctx or {})
    styles = _Styles(_font_name())
    title = KINDS[kind]
    story = [Paragraph(escape(title), styles.title)]
    case_no = _e(ctx.get("case_no"))
    story.append(Paragraph(f"编号：{case_no}" if case_no else "&nbsp;", styles.number))
    story.append(Paragraph(f"{_e(ctx.get('applicant_name'))}：", styles.addressee))
    story += BODIES[kind](ctx, styles)
    story.append(Spacer(1, 2 * mm))
    story += _summary(ctx, styles)
    story += _closing(ctx, styles)

    buf = io.BytesIO()
    department = _s(ctx.get("department_name"))
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=25 * mm, bottomMargin=22 * mm,
        title=f"{title} {_s(ctx.get('case_no'))}".strip(), author=department, subject=_s(ctx.get("item_name")),
        creator=CREATOR, invariant=1,
    )
    footer = _page_footer(styles)
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    except DocumentError:
        raise
    except Exception as exc:  # a layout failure (e.g. a cell taller than a page) must name the document
        raise DocumentError(f"生成{title}失败：{exc}") from exc
    return buf.getvalue()

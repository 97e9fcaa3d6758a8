"""PDFs of a bundle case's documents: the unified 一件事办结通知书, the 行业综合许可证 (一业一证) and the
一件事未办成告知书. Laid out like the case notices (`cases.documents`: same CJK font, styles, tables and
tracking QR code); the content was fixed when the document was issued, and the PDF is rendered from
it on first download and kept content-addressed.
"""

import io
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from tongban.cases.documents import (
    CREATOR,
    DEFAULT_REMEDY,
    FRAME_WIDTH,
    DocumentError,
    _closing,
    _e,
    _font_name,
    _grid,
    _page_footer,
    _s,
    _Styles,
)
from tongban.core.files import store_bytes

from .models import BundleDocument

TITLES = dict(BundleDocument.KINDS)


def _summary(ctx, styles):
    rows = [("一件事办件编号", ctx.get("case_no")), ("一件事名称", ctx.get("bundle_name")), ("申请人", ctx.get("applicant_name")),
            ("证件号码", ctx.get("applicant_code_masked")), ("联系电话", ctx.get("contact_phone_masked")),
            ("牵头部门", ctx.get("lead_department")), ("办理地", ctx.get("region_name"))]
    data = [[escape(label), _e(value) or "—"] for label, value in rows if _s(value) or label != "联系电话"]
    return [Paragraph("办件信息", styles.heading), _grid(data, [34 * mm, FRAME_WIDTH - 34 * mm], styles, header=False)]


def _items_table(ctx, styles, with_reason=True):
    rows = [["序号", "事项", "办理部门", "办理结果", "结果名称及编号" if not with_reason else "结果名称、编号或理由"]]
    for i, item in enumerate(ctx.get("items") or [], 1):
        detail = " ".join(x for x in (_s(item.get("result_name")), _s(item.get("certificate_no"))) if x)
        if _s(item.get("reason")):
            detail = f"{detail} {_s(item.get('reason'))}".strip()
        rows.append([str(i), _e(item.get("item")), _e(item.get("department")), _e(item.get("result")), escape(detail) or "—"])
    if len(rows) == 1:
        rows.append(["—", "（无）", "", "", ""])
    widths = [12 * mm, 42 * mm, 36 * mm, 22 * mm]
    return _grid(rows, widths + [FRAME_WIDTH - sum(widths)], styles)


def _body_conclusion(ctx, styles):
    when = _e(ctx.get("submitted_at"))
    outcome = _s(ctx.get("outcome_label")) or "已办结"
    flow = [Paragraph(f"你（单位）{'于' + when if when else ''}申请的“{_e(ctx.get('bundle_name'))}”一件事，各事项已办理完毕（{escape(outcome)}），"
                      "现将办理结果统一告知如下：", styles.body),
            Paragraph("各事项办理结果", styles.heading), _items_table(ctx, styles), Spacer(1, 3 * mm)]
    if _s(ctx.get("explanation")):
        flow.append(Paragraph(f"说明：{_e(ctx.get('explanation'))}", styles.body))
    method = _e(ctx.get("delivery_method_label"))
    if method:
        tracking = " ".join(x for x in (_s(ctx.get("courier")), _s(ctx.get("tracking_no"))) if x)
        flow.append(Paragraph(f"办理结果以{method}方式统一送达{('（' + escape(tracking) + '）') if tracking else ''}，请注意查收。", styles.body))
    if any(item.get("result") == "不予许可" for item in ctx.get("items") or []):
        flow.append(Paragraph(escape(DEFAULT_REMEDY), styles.body))
    return flow


def _body_permit(ctx, styles):
    flow = [Paragraph(f"证号：{_e(ctx.get('permit_no'))}", styles.number),
            Paragraph(f"经审查，{_e(ctx.get('company_name'))}符合“{_e(ctx.get('bundle_name'))}”所含各项许可的条件，"
                      f"核发本{_e(ctx.get('permit_name'))}。本证集成下列许可，一证准营：", styles.body)]
    rows = [["序号", "许可名称", "证照编号", "发证部门"]]
    for i, p in enumerate(ctx.get("permits") or [], 1):
        rows.append([str(i), _e(p.get("name")), _e(p.get("certificate_no")) or "—", _e(p.get("department"))])
    widths = [12 * mm, 60 * mm, 44 * mm]
    flow.append(_grid(rows, widths + [FRAME_WIDTH - sum(widths)], styles))
    details = [("统一社会信用代码", ctx.get("credit_code")), ("经营场所", ctx.get("business_address"))]
    for label, value in details:
        if _s(value):
            flow.append(Paragraph(f"{escape(label)}：{_e(value)}", styles.body))
    return flow


def _body_failure(ctx, styles):
    when = _e(ctx.get("submitted_at"))
    flow = [Paragraph(f"你（单位）{'于' + when if when else ''}申请的“{_e(ctx.get('bundle_name'))}”一件事，其中《{_e(ctx.get('denied_item'))}》"
                      f"经{_e(ctx.get('denied_department'))}审查决定不予许可，理由如下：", styles.body),
            Paragraph(_e(ctx.get("reason")) or "（未说明理由）", styles.body),
            Paragraph("按照本一件事“任一事项不予许可则一件事整体未办成”的规定，本一件事未办成，其余事项已终止办理。各事项情况如下：", styles.body),
            _items_table(ctx, styles), Spacer(1, 3 * mm), Paragraph(escape(DEFAULT_REMEDY), styles.body)]
    return flow


BODIES = {"conclusion": _body_conclusion, "permit": _body_permit, "failure": _body_failure}


def render(kind, ctx):
    """A complete PDF (bytes) of a bundle document `kind` from its fixed content `ctx`."""
    if kind not in BODIES:
        raise DocumentError(f"未知的一件事文书种类：{kind}")
    ctx = dict(ctx or {})
    styles = _Styles(_font_name())
    title = _s(ctx.get("permit_name")) if kind == "permit" and _s(ctx.get("permit_name")) else TITLES[kind]
    story = [Paragraph(escape(title), styles.title)]
    if kind != "permit":
        story.append(Paragraph(f"编号：{_e(ctx.get('case_no'))}" if _s(ctx.get("case_no")) else "&nbsp;", styles.number))
    story.append(Paragraph(f"{_e(ctx.get('company_name') if kind == 'permit' else ctx.get('applicant_name'))}：", styles.addressee))
    story += BODIES[kind](ctx, styles)
    story.append(Spacer(1, 2 * mm))
    story += _summary(ctx, styles)
    story += _closing(dict(ctx, department_seal_name=ctx.get("lead_department")), styles)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=25 * mm, bottomMargin=22 * mm,
                            title=f"{title} {_s(ctx.get('case_no'))}".strip(), author=_s(ctx.get("lead_department")),
                            subject=_s(ctx.get("bundle_name")), creator=CREATOR, invariant=1)
    footer = _page_footer(styles)
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    except DocumentError:
        raise
    except Exception as exc:  # a layout failure must name the document
        raise DocumentError(f"生成{title}失败：{exc}") from exc
    return buf.getvalue()


def document_pdf(document):
    """The PDF bytes of an issued bundle document, rendered once and stored content-addressed."""
    from tongban.core.files import open_blob

    if document.blob_id is None:
        data = render(document.kind, document.content)
        blob = store_bytes(data, "application/pdf")
        BundleDocument.objects.filter(pk=document.pk, blob__isnull=True).update(blob=blob)
        document.blob = blob
        return data
    with open_blob(document.blob) as fh:
        return fh.read()

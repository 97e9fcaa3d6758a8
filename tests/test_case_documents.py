"""Case notices as PDF: every kind renders with an embedded CJK TrueType font and the QR code,
long lists paginate, user text never becomes markup, and the bytes are reproducible."""

import re

import pytest

from tongban.cases import documents
from tongban.cases.documents import KINDS, DocumentError, render


def _ctx(**overrides):
    ctx = {
        "case_no": "3701022026112200000123",
        "item_name": "食品经营许可证核发",
        "item_code": "370117002011",
        "implementation_code": "11370102MB2855918X4370117002011",
        "applicant_name": "张三",
        "applicant_code_masked": "370102********1234",
        "agent_name": "李四",
        "contact_phone_masked": "138****5678",
        "department_name": "济南市历下区行政审批服务局",
        "department_seal_name": "济南市历下区行政审批服务局",
        "region_name": "山东省 济南市 历下区",
        "submitted_at": "2026年11月20日",
        "accepted_at": "2026年11月21日",
        "issued_at": "2026年11月22日",
        "due_date": "2026年12月4日",
        "promised_days": 10,
        "statutory_days": 20,
        "materials": [
            {"name": "食品经营许可申请书", "how": "网上上传", "count": "1"},
            {"name": "营业执照复印件", "how": "window", "count": "2"},
        ],
        "reason": "申请事项不属于本机关职权范围，请向有管辖权的机关申请。",
        "supplement_items": [
            {"name": "食品经营许可申请书", "problem": "缺少法定代表人签字"},
            {"name": "经营场所平面图", "problem": "未标明设备布局"},
        ],
        "supplement_note": "可通过网上补正或到窗口补正。",
        "result_name": "食品经营许可证",
        "certificate_no": "JY13701020012345",
        "delivery_method_label": "邮寄送达",
        "fee_amount": "0.00",
        "query_url": "http://127.0.0.1:8000/track/3701022026112200000123",
        "remedy": "",
    }
    ctx.update(overrides)
    return ctx


def _text(pdf):
    """The text of the PDF, when pypdf happens to be installed (it is not a dependency)."""
    pypdf = pytest.importorskip("pypdf")
    import io

    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def _page_count(pdf):
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_with_embedded_font_and_qr(kind):
    pdf = render(kind, _ctx())
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert b"/FontFile2" in pdf  # the TrueType program is embedded
    assert b"WenQuanYiZenHei" in pdf
    assert re.search(rb"/Subtype\s*/Image", pdf)  # the QR code
    assert b"/Author" in pdf and b"/Title" in pdf


def test_metadata_names_department():
    pdf = render("acceptance", _ctx(department_name="DeptAuthor"))
    assert b"(DeptAuthor)" in pdf


def test_same_context_same_bytes():
    for kind in KINDS:
        assert render(kind, _ctx()) == render(kind, _ctx())
    assert render("acceptance", _ctx()) != render("acceptance", _ctx(case_no="3701022026112200000124"))


def test_long_supplement_list_paginates():
    items = [{"name": f"第{i}项材料" + "很长的名称" * 4, "problem": "材料模糊不清，请重新扫描上传清晰的彩色原件。" * 3} for i in range(1, 31)]
    pdf = render("supplement", _ctx(supplement_items=items))
    assert pdf.startswith(b"%PDF-")
    assert _page_count(pdf) >= 2


def test_long_receipt_and_reason_wrap():
    materials = [{"name": "材料" * 60, "how": "online", "count": "1"} for _ in range(40)]
    assert _page_count(render("receipt", _ctx(materials=materials))) >= 2
    assert render("denial", _ctx(reason="不符合法定条件。" * 200)).startswith(b"%PDF-")


@pytest.mark.parametrize("kind", list(KINDS))
def test_user_text_is_not_markup(kind):
    hostile = '<b>& <font size="80">张</font> </para> &amp; <br/>'
    ctx = _ctx(
        applicant_name=hostile, item_name=hostile, reason=hostile, department_name=hostile, department_seal_name=hostile,
        supplement_items=[{"name": hostile, "problem": hostile}], materials=[{"name": hostile, "how": hostile, "count": hostile}],
        result_name=hostile, supplement_note=hostile, remedy=hostile,
    )
    assert render(kind, ctx).startswith(b"%PDF-")


def test_empty_context_still_renders():
    for kind in KINDS:
        assert render(kind, {}).startswith(b"%PDF-")


def test_unknown_kind():
    with pytest.raises(DocumentError):
        render("summons", _ctx())


def test_missing_font_is_a_clear_error(settings):
    settings.TONGBAN_PDF_FONT = "/nonexistent/font.ttc"
    with pytest.raises(DocumentError, match="未找到中文字体文件 /nonexistent/font.ttc，请安装 fonts-wqy-zenhei"):
        render("receipt", _ctx())


def test_default_remedy_on_refusal_and_denial():
    assert "行政复议" in documents.DEFAULT_REMEDY and "行政诉讼" in documents.DEFAULT_REMEDY
    assert documents._remedy({"remedy": ""}) == documents.DEFAULT_REMEDY
    assert documents._remedy({"remedy": "可申请复议<b>"}) == "可申请复议&lt;b&gt;"


def test_extracted_text():
    text = _text(render("denial", _ctx()))
    assert "不予许可通知书" in text and "行政复议" in text
    text = _text(render("supplement", _ctx(applicant_name="<b>&张三")))
    assert "补齐补正通知书" in text and "<b>&张三" in text
    assert "请补齐补正后重新提交；补齐补正期间不计入办理时限" in text
    assert "扫码查询办理进度" in text and "（印章）" in text


def test_chinese_punctuation_never_starts_a_line():
    from reportlab.lib import textsplit
    from reportlab.platypus import paragraph

    for chars in (textsplit.ALL_CANNOT_START, paragraph.ALL_CANNOT_START):
        assert all(c in chars for c in "，。、；：！？）》」")

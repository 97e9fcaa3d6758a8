"""Small real files for the demo guides: the blank application form (申报模板) and the filled sample
(示例样表 / 零基础模板) as .xlsx, and a one-page PDF sample of the result (审批结果样本).

The PDF uses the non-embedded Adobe CJK font STSong-Light (UniGB-UCS2-H), which every PDF viewer
substitutes, so no font file is needed and the file stays under 3 KB.
"""

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

DEMO_FOOTER = "本表为通办平台演示数据，不作为正式申报依据（演示）"
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center")


def application_xlsx(*, title, item_name, basic_code, fields, instructions, sample):
    """`fields` = [(label, sample value, note)]; the blank form leaves values empty, the sample fills
    them and adds a 填写说明 column in red."""
    wb = Workbook()
    ws = wb.active
    ws.title = "示例样表" if sample else "申请表"
    last = "C" if sample else "B"
    ws.column_dimensions["A"].width = 26
    ws.column_dimensions["B"].width = 48
    if sample:
        ws.column_dimensions["C"].width = 40
    ws.append([f"{title}（示例样表）" if sample else title])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([f"事项名称：{item_name}    基本编码：{basic_code}"])
    ws.merge_cells(f"A2:{last}2")
    if sample:
        ws.append(["示例内容仅供参考，请按本人（单位）实际情况填写"])
        ws.merge_cells(f"A3:{last}3")
        ws["A3"].font = Font(color="C00000", bold=True)
        ws.append(["栏目", "填写示例", "填写说明"])
    else:
        ws.append(["栏目", "填写内容"])
    header = ws.max_row
    for cell in ws[header]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.border = _BORDER
    for label, value, note in fields:
        ws.append([label, value, note] if sample else [label, ""])
        row = ws.max_row
        ws.row_dimensions[row].height = 24
        for cell in ws[row]:
            cell.border = _BORDER
            cell.alignment = _WRAP
        if sample:
            ws.cell(row=row, column=3).font = Font(color="C00000")
    ws.append([])
    ws.append(["申请人承诺", "本人（单位）承诺所填写内容及所提交材料真实、合法、有效，如有虚假，愿承担相应法律责任。"])
    ws.append(["申请人签名（盖章）", "张晓明" if sample else ""])
    ws.append(["日期", "2026年1月15日" if sample else "        年    月    日"])
    ws.append([])
    ws.append([DEMO_FOOTER])
    ws.cell(row=ws.max_row, column=1).font = Font(italic=True, color="808080")
    notes = wb.create_sheet("填报须知")
    notes.column_dimensions["A"].width = 100
    notes.append(["填报须知"])
    notes["A1"].font = Font(size=14, bold=True)
    for i, line in enumerate(instructions, 1):
        notes.append([f"{i}. {line}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- PDF ---------------------------------------------------------------------------------------


def _pdf_text(text):
    return "<" + text.encode("utf-16-be").hex().upper() + ">"


def result_sample_pdf(*, result_name, item_name, basic_code, lines, issuer):
    """A one-page A4 PDF showing a sample of the result document, watermarked 样本."""
    ops = ["0.6 0.1 0.1 RG 3 w 50 60 495 722 re S", "1 w 58 68 479 706 re S"]

    def text(x, y, size, s, color="0 0 0"):
        ops.append(f"BT {color} rg /F1 {size} Tf {x} {y} Td {_pdf_text(s)} Tj ET")

    title = result_name[:18]
    text(max(70, 297 - len(title) * 13), 700, 26, title)
    text(230, 670, 12, "（样本 · 演示数据）", "0.6 0.1 0.1")
    y = 620
    for label, value in lines:
        text(90, y, 13, f"{label}：{value}"[:34])
        y -= 34
    text(90, 200, 11, f"事项：{item_name}"[:40])
    text(90, 180, 11, f"基本编码：{basic_code}")
    text(330, 140, 13, issuer[:16])
    text(360, 118, 12, "2026年1月15日")
    ops.append("q 0.85 g BT /F1 72 Tf 0.866 0.5 -0.5 0.866 170 330 Tm " + _pdf_text("样本") + " Tj ET Q")
    text(90, 84, 9, "本样本由通办平台生成，仅用于展示结果样式，不具有法律效力（演示）", "0.4 0.4 0.4")
    content = "\n".join(ops).encode("ascii")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 /W [1 95 500] >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0"
        b" /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
        "<< /Title {} /Producer (Tongban demo) >>".format(_pdf_text("\ufeff" + f"{result_name}（样本）")).encode("ascii"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)

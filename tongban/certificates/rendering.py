"""The layout file (版式文件) of a certificate: an A4 PDF drawn directly on a reportlab canvas.

Three layouts follow the type's template: a licence (横版执照), a certificate (竖版证书) and a proof
(证明文书). Each shows the title, number, holder, face items, validity, issuer and date with the
issuer's seal drawn as vectors (no image file to forge or lose), the identifier and a QR code of the
signed payload. A version no longer valid is drawn with a diagonal watermark.

The output is invariant (fixed metadata, dates taken from the record), so one version's file is
stored once, content-addressed, and cached on the row.
"""

import io
import math

import segno
from django.db import transaction
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas

from tongban.cases.documents import CREATOR, _font_name
from tongban.core.files import PDF, store_bytes

from . import qr
from .models import Certificate, CertificateEvent, Status, Template

SEAL_RED = colors.Color(0.85, 0.1, 0.1)
INK = colors.Color(0.1, 0.1, 0.1)
GOLD = colors.Color(0.62, 0.45, 0.12)
WATERMARKS = {Status.REVOKED: "已吊销", Status.CANCELLED: "已注销", Status.SUPERSEDED: "已变更"}
QR_MASK = 4
KIND_LINE = {Template.LICENCE: "电子证照专用章", Template.CERTIFICATE: "电子证照专用章", Template.PROOF: "电子证明专用章"}


def _date(value):
    return f"{value.year}年{value.month:02d}月{value.day:02d}日" if value else ""


def _validity(cert):
    if cert.valid_until is None:
        return f"自{_date(cert.valid_from)}起长期有效"
    return f"{_date(cert.valid_from)}至{_date(cert.valid_until)}"


def _wrap(text, font, size, width):
    """Lines of `text` no wider than `width` (character-wise: Chinese has no spaces to break at)."""
    lines, line, used = [], "", 0.0
    for ch in str(text):
        if ch == "\n":
            lines.append(line)
            line, used = "", 0.0
            continue
        w = stringWidth(ch, font, size)
        if used + w > width and line:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    lines.append(line)
    return lines


def _face_rows(cert):
    """(label, value) of the face: the common head items, then the type's fields in catalogue order."""
    holder_label = "持证主体" if cert.type.holder_kind != "natural" else "持证人"
    rows = [(holder_label, cert.holder_name), (cert.holder_code_type or "证件号码", cert.holder_code)]
    labels = {f.get("key"): f.get("label") or f.get("key") for f in cert.type.fields or [] if isinstance(f, dict)}
    for key, label in labels.items():
        if key in cert.data:
            rows.append((label, cert.data[key]))
    # Items the type does not declare (an e-proof's base data): shown under their own names.
    rows += [(key, value) for key, value in cert.data.items() if key not in labels and key not in ("result_name", "certificate_no")]
    if cert.data.get("result_name") and cert.data["result_name"] != cert.type.name:
        rows.append(("许可内容", cert.data["result_name"]))
    rows.append(("有效期限", _validity(cert)))
    return rows


def _draw_star(c, cx, cy, r):
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    path = c.beginPath()
    path.moveTo(*points[0])
    for p in points[1:]:
        path.lineTo(*p)
    path.close()
    c.drawPath(path, stroke=0, fill=1)


def draw_seal(c, font, cx, cy, name, line, radius=21 * mm):
    """The issuer's seal: a red ring, the issuer's name along the upper arc, a star and the purpose line."""
    c.saveState()
    c.setStrokeColor(SEAL_RED)
    c.setFillColor(SEAL_RED)
    c.setLineWidth(1.6 * mm * 0.6)
    c.circle(cx, cy, radius, stroke=1, fill=0)
    _draw_star(c, cx, cy, radius * 0.28)
    text = name[:24]
    size = max(7.0, min(13.0, radius * 2.4 / max(len(text), 1)))
    span = min(math.radians(250), math.radians(16) * len(text) * size / 12)  # the arc the name covers
    r_text = radius - size - 1.2 * mm
    n = len(text)
    for i, ch in enumerate(text):
        angle = math.pi / 2 + span / 2 - (span * (i + 0.5) / n)
        c.saveState()
        c.translate(cx + r_text * math.cos(angle), cy + r_text * math.sin(angle))
        c.rotate(math.degrees(angle) - 90)
        c.setFont(font, size)
        c.drawCentredString(0, 0, ch)
        c.restoreState()
    c.setFont(font, 7.5)
    c.drawCentredString(cx, cy - radius * 0.55, line)
    c.restoreState()


def draw_qr(c, text, x, y, size):
    """The QR code as one vector path: a rectangle per horizontal run of dark modules, in module units
    (integers, so the path is short). The mask is fixed: choosing the best of eight costs more than
    the whole page, and every mask gives a valid, readable symbol."""
    matrix = segno.make(text, error="m", mask=QR_MASK, boost_error=False, micro=False).matrix
    n = len(matrix)
    quiet = 2
    module = size / (n + 2 * quiet)
    c.saveState()
    c.setFillColor(colors.white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(colors.black)
    c.transform(module, 0, 0, module, x + quiet * module, y + quiet * module)
    ops = []
    for row_index, row in enumerate(matrix):
        bottom = n - 1 - row_index
        start = None
        for col, dark in enumerate(row):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                ops.append(f"{start} {bottom} {col - start} 1 re")
                start = None
        if start is not None:
            ops.append(f"{start} {bottom} {n - start} 1 re")
    c._code.append(" ".join(ops) + " f")  # reportlab's own operators, written in one go
    c.restoreState()


def _watermark(c, cert, width, height, font):
    mark = WATERMARKS.get(cert.status)
    if not mark:
        return
    c.saveState()
    c.setFillColor(colors.Color(0.85, 0.1, 0.1, alpha=0.28))
    c.translate(width / 2, height / 2)
    c.rotate(35)
    c.setFont(font, 96)
    c.drawCentredString(0, -30, mark)
    c.setFont(font, 14)
    changed = _date(cert.status_changed_at.date()) if cert.status_changed_at else ""
    c.drawCentredString(0, -60, f"{changed} {mark}，以平台验证结果为准")
    c.restoreState()


def _frame(c, width, height, template):
    c.saveState()
    c.setStrokeColor(GOLD if template != Template.PROOF else INK)
    c.setLineWidth(2.2)
    c.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    c.setLineWidth(0.6)
    c.rect(12.5 * mm, 12.5 * mm, width - 25 * mm, height - 25 * mm)
    c.restoreState()


def _rows(c, font, rows, x, y, width, label_width, size, leading):
    """Draw label/value rows from `y` downwards; returns the y below the last one. The label column
    widens to the longest label (统一社会信用代码) up to 60 mm."""
    longest = max((stringWidth(str(label), font, size) for label, _v in rows), default=0)
    label_width = min(max(label_width, longest + 4 * mm), 60 * mm)
    for label, value in rows:
        c.setFont(font, size)
        c.setFillColor(INK)
        c.drawString(x, y, f"{label}")
        lines = _wrap(value, font, size, width - label_width)
        for i, line in enumerate(lines[:6]):
            c.drawString(x + label_width, y - i * leading, line)
        y -= leading * max(1, min(len(lines), 6)) + leading * 0.45
    return y


def render_pdf(certificate) -> bytes:
    cert = certificate
    font = _font_name()
    template = cert.type.template
    pagesize = landscape(A4) if template == Template.LICENCE else A4
    width, height = pagesize
    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pagesize=pagesize, invariant=1, pageCompression=1)
    c.setTitle(f"{cert.type.name} {cert.number}")
    c.setAuthor(cert.issuer_name)
    c.setSubject(cert.identifier)
    c.setCreator(CREATOR)
    _frame(c, width, height, template)
    c.setFillColor(INK)

    if template == Template.LICENCE:
        c.setFont(font, 11)
        c.drawString(24 * mm, height - 26 * mm, f"统一社会信用代码/证照编号：{cert.number}")
        c.setFont(font, 34)
        c.drawCentredString(width / 2, height - 46 * mm, cert.type.name)
        c.setFont(font, 11)
        c.drawCentredString(width / 2, height - 55 * mm, f"（电子证照 · 第{cert.version}版）")
        y = _rows(c, font, _face_rows(cert), 40 * mm, height - 74 * mm, width - 140 * mm, 34 * mm, 12.5, 7.2 * mm)
        qr_size, qr_x, qr_y = 46 * mm, width - 78 * mm, height - 116 * mm
        seal_x, seal_y = width - 70 * mm, 46 * mm
        sign_x, sign_y = width - 48 * mm, 34 * mm
        id_y = 18 * mm
    else:
        title_size = 30 if template == Template.CERTIFICATE else 24
        c.setFont(font, title_size)
        c.drawCentredString(width / 2, height - 42 * mm, cert.type.name)
        c.setFont(font, 11)
        c.drawCentredString(width / 2, height - 52 * mm, f"编号：{cert.number}")
        y = height - 70 * mm
        if template == Template.PROOF:
            c.setFont(font, 12)
            intro = f"兹证明{cert.holder_name}（{cert.holder_code_type}{cert.holder_code}）的以下信息属实，特此证明。"
            for line in _wrap(intro, font, 12, width - 50 * mm):
                c.drawString(25 * mm, y, line)
                y -= 7 * mm
            y -= 3 * mm
        y = _rows(c, font, _face_rows(cert), 28 * mm, y, width - 56 * mm, 34 * mm, 12.5, 7.5 * mm)
        qr_size, qr_x, qr_y = 40 * mm, 24 * mm, 30 * mm
        seal_x, seal_y = width - 58 * mm, 62 * mm
        sign_x, sign_y = width - 30 * mm, 50 * mm
        id_y = 18 * mm

    draw_qr(c, qr.qr_text(cert), qr_x, qr_y, qr_size)
    c.setFont(font, 8)
    c.drawCentredString(qr_x + qr_size / 2, qr_y - 4 * mm, "扫码验证真伪")
    c.setFont(font, 13)
    c.drawRightString(sign_x, sign_y + 10 * mm, cert.issuer_name)
    c.drawRightString(sign_x, sign_y, _date(cert.issued_on))
    draw_seal(c, font, seal_x, seal_y, cert.issuer_name, KIND_LINE.get(template, "电子证照专用章"))
    c.setFont(font, 8)
    c.setFillColor(INK)
    # The identifier in a standard font: plain text in the file that a machine can find and copy.
    label_w, id_w = stringWidth("证照标识：", font, 8), stringWidth(cert.identifier, "Helvetica", 8)
    left = (width - label_w - id_w) / 2
    c.drawString(left, id_y, "证照标识：")
    c.setFont("Helvetica", 8)
    c.drawString(left + label_w, id_y, cert.identifier)
    c.setFont(font, 8)
    c.drawCentredString(width / 2, id_y - 4 * mm, f"签名算法：{cert.algorithm.upper()}  密钥：{cert.key_id}  本版式文件由{CREATOR}生成，以扫码验证结果为准")
    _watermark(c, cert, width, height, font)
    c.showPage()
    c.save()
    return buf.getvalue()


def pdf_blob(certificate):
    """The stored PDF of this version, rendered the first time it is asked for (a revocation or change
    clears the cached file, so the next one carries the watermark)."""
    if certificate.pdf_id:
        return certificate.pdf
    blob = store_bytes(render_pdf(certificate), PDF)
    with transaction.atomic():
        updated = Certificate.objects.filter(pk=certificate.pk, pdf__isnull=True, status=certificate.status).update(pdf=blob)
        if updated:
            CertificateEvent.objects.create(certificate_id=certificate.pk, action=CertificateEvent.RENDER, actor_name="系统", data={"sha256": blob.sha256})
    certificate.pdf = blob
    return blob

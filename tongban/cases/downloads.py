"""Files of a case (materials, issued notices) for whoever may read the case — staff through the
authorisation filter, the applicant for their own case. Served inline so the workbench can preview
them; same-origin framing is allowed for these responses only."""

from django.http import FileResponse, Http404
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from tongban.core.files import LABELS, open_blob

from .intake import visible_case
from .paperwork import pdf_blob

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "application/ofd": "ofd"}


def _serve(blob, name, inline=True):
    ext = EXTENSIONS.get(blob.content_type, "bin")
    filename = name if name.lower().endswith(f".{ext}") else f"{name}.{ext}"
    response = FileResponse(open_blob(blob), content_type=blob.content_type, as_attachment=not inline or blob.content_type not in LABELS or blob.content_type == "application/ofd", filename=filename)
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@xframe_options_sameorigin
def material_file(request, case_id, material_id):
    case = visible_case(request.user, case_id)
    m = case.materials.filter(pk=material_id).select_related("blob").first()
    if m is None:
        raise Http404
    return _serve(m.blob, m.file_name.rsplit(".", 1)[0] if "." in m.file_name else m.file_name)


@require_GET
@xframe_options_sameorigin
def document_file(request, case_id, document_id):
    case = visible_case(request.user, case_id)
    d = case.documents.filter(pk=document_id).select_related("blob").first()
    if d is None:
        raise Http404
    return _serve(pdf_blob(d), f"{case.case_no or case.pk}-{d.get_kind_display()}")

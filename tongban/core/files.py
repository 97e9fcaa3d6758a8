"""Content-addressed file storage: bytes are stored once under their SHA-256, whoever uploads them.

The type of an upload is read from its first bytes, never from its name: a renamed executable is
refused whatever it is called.
"""

import hashlib
import io
import os
import zipfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from .errors import DomainError
from .models import StoredBlob

PDF, JPEG, PNG, OFD = "application/pdf", "image/jpeg", "image/png", "application/ofd"
LABELS = {PDF: "PDF", JPEG: "JPG", PNG: "PNG", OFD: "OFD"}
MATERIAL_TYPES = frozenset(LABELS)


def sniff(head: bytes, data_for_zip=None):
    """The content type from the leading bytes, or None. OFD (GB/T 33190) is a ZIP package whose
    root holds OFD.xml."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"PK\x03\x04") and data_for_zip is not None:
        try:
            with zipfile.ZipFile(data_for_zip) as z:
                if "OFD.xml" in z.namelist():
                    return OFD
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
    return None


def blob_path(sha256):
    return Path(settings.MEDIA_ROOT) / "blobs" / sha256[:2] / sha256[2:4] / sha256


def max_material_bytes():
    return settings.TONGBAN_MATERIAL_MAX_MB * 1024 * 1024


def read_upload(upload, allowed=MATERIAL_TYPES, max_bytes=None):
    """(bytes, content_type) of an uploaded file after checking size and type; DomainError otherwise."""
    max_bytes = max_bytes or max_material_bytes()
    name = getattr(upload, "name", "") or "文件"
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise DomainError(f"文件“{name}”超过大小上限{max_bytes // (1024 * 1024)}MB，请压缩或拆分后上传", status=413)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DomainError(f"文件“{name}”超过大小上限{max_bytes // (1024 * 1024)}MB，请压缩或拆分后上传", status=413)
    if not data:
        raise DomainError(f"文件“{name}”是空文件，请重新选择")
    kind = sniff(data[:16], io.BytesIO(data))
    if kind not in allowed:
        names = "、".join(LABELS[t] for t in LABELS if t in allowed)
        raise DomainError(f"文件“{name}”的内容不是{names}格式（按文件内容判断，而非扩展名），请上传{names}文件", status=415)
    return data, kind


def _write(data):
    """The file of these bytes under their hash (written once; atomic, so a reader never sees half a file)."""
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest


def store_bytes(data: bytes, content_type: str):
    """The blob for these bytes, writing the file only the first time they are seen."""
    digest = _write(data)
    blob = StoredBlob.objects.filter(pk=digest).first()
    if blob is None:
        try:
            with transaction.atomic():
                blob = StoredBlob.objects.create(sha256=digest, size=len(data), content_type=content_type)
        except IntegrityError:  # stored by a concurrent request a moment ago
            blob = StoredBlob.objects.get(pk=digest)
    return blob


def store_many(items):
    """Blobs for several (bytes, content_type) at once: files written first, rows in one statement."""
    rows = {}
    for data, content_type in items:
        digest = _write(data)
        rows[digest] = StoredBlob(sha256=digest, size=len(data), content_type=content_type)
    StoredBlob.objects.bulk_create(rows.values(), ignore_conflicts=True)  # a blob seen before stays as it is
    return [rows[hashlib.sha256(data).hexdigest()] for data, _ in items]


def store_upload(upload, allowed=MATERIAL_TYPES):
    data, kind = read_upload(upload, allowed)
    return store_bytes(data, kind)


def open_blob(blob):
    return open(blob_path(blob.sha256), "rb")

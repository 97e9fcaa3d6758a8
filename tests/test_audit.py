import pytest
from django.db import DatabaseError, connection, transaction

from tongban.core import audit
from tongban.core.models import AuditEntry


@pytest.mark.django_db
def test_audit_is_append_only_in_orm_and_database():
    entry = audit.record(None, "test.action", summary="申请人11010519491231002X")
    assert "110105********002X" in entry.summary  # personal data masked
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    for sql in ("UPDATE core_auditentry SET summary = 'x'", "DELETE FROM core_auditentry"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditEntry.objects.get(pk=entry.pk).summary == entry.summary

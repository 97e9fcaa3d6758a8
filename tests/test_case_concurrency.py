"""Real concurrent requests (threads with their own database connections): two approvers acting at
once, and case numbers under simultaneous submissions."""

import threading

import pytest
from django.db import connection

from tongban.cases import services
from tongban.cases.models import Case, CaseEvent
from tongban.core.errors import Conflict

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Django's SQLite test database is in-memory with a shared cache, where a second writer gets
    # "table is locked" at once instead of waiting (a file database in WAL mode waits: busy_timeout).
    pytest.mark.skipif(connection.vendor == "sqlite", reason="并发测试在 PostgreSQL 上运行（SQLite 内存测试库不支持并发等待）"),
]


@pytest.fixture
def world(reference_data, case_world):
    return case_world()


def _race(n, fn):
    barrier, results = threading.Barrier(n), [None] * n

    def run(i):
        from django.db import connections

        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 — the outcome is what we test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_approvers_at_once_one_wins_the_other_gets_409(world, staff_factory):
    w = world
    other, _ = staff_factory("approver", "371327", w.department)
    case = w.act(w.submitted_case(), "accept")
    results = _race(2, lambda i: services.perform(case.pk, ["approve", "deny"][i], [w.approver, other][i], "意见" if i else ""))
    wins = [r for r in results if isinstance(r, Case)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert "已被他人处理" in losses[0].message
    case.refresh_from_db()
    assert case.status == wins[0].status
    assert CaseEvent.objects.filter(case=case, action__in=["approve", "deny"]).count() == 1


def test_simultaneous_submissions_get_distinct_case_numbers(world):
    w = world
    drafts = []
    for _ in range(6):
        case = services.create_draft(w.applicant, w.impl.implementation_code)
        for m in w.materials:
            from tests.conftest import PDF_BYTES, upload

            services.add_material(w.applicant.user, case.pk, m.pk, upload(data=PDF_BYTES + str(case.pk).encode() + m.name.encode()))
        drafts.append(case.pk)
    results = _race(6, lambda i: services.submit(w.applicant.user, drafts[i]))
    assert all(isinstance(r, Case) for r in results), results
    numbers = sorted(Case.objects.filter(pk__in=drafts).values_list("case_no", flat=True))
    assert len(set(numbers)) == 6 and numbers[-1].endswith("000006")

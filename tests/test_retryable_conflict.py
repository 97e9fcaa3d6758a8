"""A transaction PostgreSQL rolled back for a deadlock or a serialisation failure is answered 409 with a
Chinese message (API and pages), never 500; other database errors are not hidden."""

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from tongban.core.middleware import RETRY_MESSAGE, RetryableConflictMiddleware, retryable


class _PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(sqlstate):
    try:
        raise OperationalError("database said no") from _PgError(sqlstate)
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_deadlock_and_serialisation_failure_are_retryable(sqlstate):
    assert retryable(_wrapped(sqlstate))


def test_other_database_errors_are_not_turned_into_409():
    assert not retryable(_wrapped("53300"))  # too many connections: a real outage, not a lost race
    assert not retryable(ValueError("x"))
    middleware = RetryableConflictMiddleware(lambda r: None)
    assert middleware.process_exception(RequestFactory().post("/api/v1/cases/1/actions"), _wrapped("53300")) is None


@pytest.mark.django_db
def test_api_and_page_answers_are_409_in_chinese():
    middleware = RetryableConflictMiddleware(lambda r: None)
    api = middleware.process_exception(RequestFactory().post("/api/v1/bundles/cases/1/intake"), _wrapped("40P01"))
    assert api.status_code == 409 and RETRY_MESSAGE in api.content.decode()
    page = middleware.process_exception(RequestFactory().post("/workbench/bundles/1/intake/"), _wrapped("40P01"))
    assert page.status_code == 409 and RETRY_MESSAGE in page.content.decode()

from tongban.core.management.commands.export_openapi import OPENAPI_PATH, generated_schema


def test_committed_openapi_matches_code():
    assert OPENAPI_PATH.exists(), "docs/openapi.json is missing: run python manage.py export_openapi"
    assert OPENAPI_PATH.read_text(encoding="utf-8") == generated_schema(), "docs/openapi.json is stale: run python manage.py export_openapi"

import pytest


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy(client):
    r = client.get("/")
    policy = r["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert r["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_api_docs_work_offline(client):
    body = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in body
    assert "cdn." not in body and "https://" not in body.split("<body")[1][:2000]

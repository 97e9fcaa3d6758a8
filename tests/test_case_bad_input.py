"""Hostile values in the case API: wrong types, NUL characters, unknown actions."""

import json

import pytest

from tests.test_case_api import _act, _apply

pytestmark = pytest.mark.django_db

def test_malformed_values_are_refused_in_chinese_never_a_500(case_world, client):
    """Wrong types and NUL characters in every JSON value the case API reads (a 500 here once)."""
    w = case_world()
    out = []
    out.append(("track nul", client.get("/api/v1/cases/track", {"case_no": "a\x00b", "tail": "123456"}).status_code))
    out.append(("impl int", w.client.post("/api/v1/cases/applications", {"data": json.dumps({"implementation_code": 5})}).status_code))
    out.append(("commit dict", w.client.post("/api/v1/cases/applications", {"data": json.dumps({"implementation_code": w.impl.implementation_code, "commitments": [{}]})}).status_code))
    out.append(("token list", w.client.post("/api/v1/cases/applications", {"data": json.dumps({"implementation_code": w.impl.implementation_code, "token": [1]})}).status_code))
    out.append(("data list", w.client.post("/api/v1/cases/applications", {"data": "[1]"}).status_code))
    cid = _apply(w).json()["id"]
    out.append(("supp nul", _act(w.clerk_client, cid, "request_supplement", items=[{"name": "a\x00", "problem": "b"}]).status_code))
    out.append(("supp mid str", _act(w.clerk_client, cid, "request_supplement", items=[{"material_id": "x", "problem": "b"}]).status_code))
    out.append(("supp mid list", _act(w.clerk_client, cid, "request_supplement", items=[{"material_id": [1], "problem": "b"}]).status_code))
    _act(w.clerk_client, cid, "accept")
    out.append(("special list", _act(w.approver_client, cid, "start_special", "r", kind=["hearing"]).status_code))
    out.append(("deferred dict", _act(w.client, cid, "fulfil_deferred", deferred_id={"a": 1}).status_code))
    out.append(("review step list", _act(w.approver_client, cid, "review", "ok", step_id=[1]).status_code))
    out.append(("approve nul", _act(w.approver_client, cid, "approve", "ok", result_name="a\x00").status_code))
    _act(w.approver_client, cid, "approve")
    _act(w.approver_client, cid, "conclude")
    out.append(("deliver nul", _act(w.clerk_client, cid, "deliver", method="mail", courier="EMS\x00", tracking_no="1").status_code))
    out.append(("deliver method dict", _act(w.clerk_client, cid, "deliver", method={"a": 1}).status_code))
    out.append(("opinion nul", _act(w.clerk_client, cid, "deliver", "x\x00", method="online").status_code))
    out.append(("unknown action", _act(w.clerk_client, cid, "explode").status_code))
    out.append(("patch form nul", w.client.patch(f"/api/v1/cases/{cid}", {"form": {"a\x00": "b"}}, content_type="application/json").status_code))
    assert all(400 <= code < 500 for _, code in out), out

"""Smoke test of the multi-node harness: two real nodes (gunicorn on loopback, own databases), staff
sign-in on each, peer registration, and a crash/restart of one node's web server.

Runs on SQLite by default, on PostgreSQL (databases tongban_node_*) when DATABASE_URL is PostgreSQL.
Timeouts here are failure guards, not timing assertions."""

import pytest

from tests.multinode.harness import cluster, exchange_commands_available, missing_exchange_commands, wait_until

pytestmark = pytest.mark.multinode

SPECS = [
    {"node_id": "A", "name": "节点A（山东）", "regions": ["370000"]},
    {"node_id": "B", "name": "节点B（内蒙古）", "regions": ["150000"]},
]


@pytest.fixture(scope="module")
def two_nodes():
    with cluster(SPECS) as nodes:
        yield nodes


def test_staff_sign_in_and_list_cases_on_each_node(two_nodes):
    a, b = two_nodes["A"], two_nodes["B"]
    assert a.url != b.url and a.db_url != b.db_url and a.var_dir != b.var_dir
    for node, username in ((a, "demo_clerk"), (b, "demo_approver")):
        staff = node.session(username)
        status, page = staff.get("/api/v1/cases/", limit=5)
        assert status == 200, (node.node_id, status, page, node.log_tail())
        assert isinstance(page, dict) and "items" in page, page
        # A write through the API carries the CSRF token: a wrong case id is a 404, not a 401/403.
        status, body = staff.post_json("/api/v1/cases/999999999/actions/accept", {"opinion": ""})
        assert status == 404, (status, body)


def test_each_node_registered_the_other(two_nodes):
    if not exchange_commands_available():
        pytest.skip(f"tongban.exchange does not ship {', '.join(missing_exchange_commands())} yet: node identity not checked")
    a, b = two_nodes["A"], two_nodes["B"]
    for node, other in ((a, b), (b, a)):
        rows = dict(node.sql("SELECT node_id, is_self FROM exchange_node"))
        assert rows.get(node.node_id) in (True, 1), (node.node_id, rows)
        assert other.node_id in rows and rows[other.node_id] in (False, 0), (node.node_id, rows)
        (base_url,) = node.sql("SELECT base_url FROM exchange_node WHERE node_id = %s", (other.node_id,))[0]
        assert base_url.rstrip("/") == other.url, (base_url, other.url)
        # The peer's public keys as it published them (node_descriptor at wiring time) are the ones registered.
        keys = {k for (k,) in node.sql("SELECT k.public_key FROM exchange_nodekey k JOIN exchange_node n ON n.id = k.node_id "
                                         "WHERE n.node_id = %s AND k.revoked_at IS NULL", (other.node_id,))}
        assert keys and keys == {k["public_key"] for k in other.descriptor_data["keys"]}, (keys, other.descriptor_data)
        assert other.descriptor_data["regions"] == other.regions, other.descriptor_data
    assert a.relay_running and b.relay_running, two_nodes.diagnostics()


def test_receiver_crash_and_restart(two_nodes):
    a, b = two_nodes["A"], two_nodes["B"]
    b.stop(kill=True)  # SIGKILL: a crash, not a clean shutdown
    assert not b.is_up(), "B still answers after SIGKILL"
    assert a.is_up(), a.log_tail()
    b.start()
    wait_until(b.is_up, timeout=60, message="B did not come back", diagnostics=two_nodes.diagnostics)
    status, page = b.session("demo_approver").get("/api/v1/cases/")
    assert status == 200, (status, page)

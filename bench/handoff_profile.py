"""Where a hand-off's time goes (companion of bench/handoff.py): two nodes provisioned by the multi-node
harness on PostgreSQL but no process started (no relay: forwarded messages stay in A's outbox).
In A's environment, --cases drafts are forwarded in-process with `handling.perform(pk, "forward")`
under cProfile (CPU clock) and an SQL statement counter; the relay's first batch of those messages
(signed envelopes + base64 blobs, as it would POST them) is written to a file and applied in B's
environment with `exchange.inbox.receive` (what B's /exchange/inbox/ view does), profiled the same
way. Printed per forward and per applied hand-off: wall and CPU ms, SQL statements and their time,
and the top cumulative functions. Single process, no concurrency: service times, not throughput.

    .venv/bin/python bench/handoff_profile.py --cases 60
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.multinode import harness  # noqa: E402

GEN = str(ROOT / "bench" / "handoff_gen.py")
ENV = {"TONGBAN_DEBUG": "false", "TONGBAN_SECRET_KEY": "bench-handoff", "TONGBAN_HTTPS": "false", "TONGBAN_LOG_LEVEL": "WARNING"}


def run_in(node, *argv):
    res = subprocess.run([harness.PYTHON, GEN, *map(str, argv)], cwd=ROOT, env=node.env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{argv[0]} on node {node.node_id} failed:\n{res.stderr[-4000:]}")
    return res.stdout


def show(title, result):
    print(f"{title}: {result['n']} in-process, {result['wall_ms_each']} ms wall / {result['cpu_ms_each']} ms CPU each, "
          f"{result['queries_each']} SQL statements ({result['sql_ms_each']} ms) each"
          + (f"; results {result['statuses']}" if "statuses" in result else "")
          + (f"; batch of {result['batch_envelopes']} envelopes, {result['batch_bytes'] / 1e6:.2f} MB" if "batch_envelopes" in result else ""))
    for line in result["top"]:
        print("   " + line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=60, help="forwards profiled (the relay batch holds at most 100)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--db", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tongban-handoff-profile-"))
    specs = [{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}]
    with harness.cluster(specs, db=args.db, env=ENV, start=False) as nodes:
        a, b = nodes["A"], nodes["B"]
        run_in(a, "generate", "--cases", args.cases + 1, "--out", work / "ids.json")
        fwd = json.loads(run_in(a, "profile-forward", "--ids", work / "ids.json", "--n", args.cases, "--body-out", work / "body.json",
                                "--top", args.top).strip().splitlines()[-1])
        show("forward on A", fwd)
        inb = json.loads(run_in(b, "profile-inbox", "--body-in", work / "body.json", "--top", args.top).strip().splitlines()[-1])
        show("inbox apply on B", inb)
        print(json.dumps({"forward": {k: v for k, v in fwd.items() if k != "top"}, "inbox": {k: v for k, v in inb.items() if k != "top"}}))


if __name__ == "__main__":
    main()

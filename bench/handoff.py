"""Benchmark of cross-node hand-offs under receiver crashes: two real nodes on loopback (gunicorn web +
`manage.py exchange_relay` each, tests/multinode/harness.py), each with its own PostgreSQL database.

Node A serves 370000 (山东; the window clerk `demo_clerk` of 莒南县 371327), node B serves 150000 (内蒙古).
A hand-off is a proxy case received at A for 养老保险关系转移接续 of 东胜区 (implementation
11150602MB5498656T4002010007000, on B) and forwarded with the real lifecycle step
`handling.perform(case_id, "forward", clerk)`: one transaction writes the case and its `case_handoff`
outbox message (snapshot + 2–4 KB material files, distinct per case); A's relay delivers it to B,
whose inbox creates B's copy and answers; the acknowledgement is the outbox row's `delivered_at`.
B's 办理地接收 comes back to A as a `status_update` message (B's relay, A's inbox).

Data (not timed): N drafts made in A's environment by bench/handoff_gen.py (one through the services,
N-1 bulk clones with their own uid, applicant and material files). Timed: W forward workers (processes
in A's environment) forward them as fast as they can (or at --rate), while B is SIGKILLed (web +
relay: a crash) and started again --restarts times, at evenly spaced fractions of the forwards
between 20 % and 70 %, each outage lasting --outage seconds plus B's boot. No `retry_outbox_now`: the
relay's own back-off (2^tries s, ±20 %) brings delivery back. Then the bench waits until every hand-off
and every acknowledgement is delivered (or --timeout).

Printed (and as one JSON line at the end): forwards and forward rate; throughput = hand-offs
acknowledged per second = N / (last delivered_at − first created_at); latency forward → ack
(delivered_at − created_at of the case_handoff rows) p50/p95/p99/max overall and for messages created
outside the outage windows (kill − --margin … B ready + --margin: a message created while B is dead
must wait for the restart and the back-off); lost = forwarded cases (by uid) missing on B; duplicated =
cases on B with more than one 办理地接收, events applied twice (case, origin) on either node, inbox rows
applied twice, case_handoff rows doubled on A's outbox; the acknowledgements back to A; the outage
windows; errors in the node logs. Goal (the issue): ≥ 100 hand-offs/s, p99 ≤ 1 s, 0 lost, 0 duplicated.
No timed assertions: figures only.

    .venv/bin/python bench/handoff.py --cases 500                 # about a minute
    .venv/bin/python bench/handoff.py                             # 10,000 hand-offs, 3 restarts
    .venv/bin/python bench/handoff.py --cases 2000 --restarts 0 --rate 80 --keep

PostgreSQL server: --db (default postgres://postgres@127.0.0.1:5432/postgres); the harness creates the
node databases tongban_node_* from its template (built by migrate + load_demo once) and drops them at exit.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from case_data import cpu_speed, log, machine_load, summary  # noqa: E402

from tests.multinode import harness  # noqa: E402

GOAL_RATE, GOAL_P99_S = 100.0, 1.0
GEN = str(ROOT / "bench" / "handoff_gen.py")
SPECS = [{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}]


def node_env(args):
    """Production-like settings for both nodes (DEBUG off: no query log, no dev mailbox)."""
    env = {"TONGBAN_LOG_LEVEL": args.log_level}
    if args.exchange_timeout:
        env["TONGBAN_EXCHANGE_TIMEOUT_SECONDS"] = str(args.exchange_timeout)
    if not args.debug:
        env.update({"TONGBAN_DEBUG": "false", "TONGBAN_SECRET_KEY": "bench-handoff", "TONGBAN_HTTPS": "false"})
    return env


def use_relay_interval(node, interval):
    """Make the node start `exchange_relay --interval <interval>` (the harness starts it with the default)."""
    def start_relay():
        if not node.relay_running:
            node.relay = harness._popen([harness.PYTHON, "manage.py", "exchange_relay", "--interval", str(interval)], node.env,
                                        node.log_dir / "relay.log", f"relay {node.node_id}")
        return node

    node.start_relay = start_relay


def run_in(node, *argv, timeout=3600, env=None):
    res = subprocess.run([harness.PYTHON, GEN, *map(str, argv)], cwd=ROOT, env=dict(node.env, **(env or {})),
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv[:1]))} failed on node {node.node_id}:\n{res.stderr[-4000:]}")
    return res.stdout


def count_lines(paths, seen):
    """Lines in the forward workers' output files so far (read incrementally)."""
    for p in paths:
        with open(p, "rb") as f:
            f.seek(seen[p][0])
            chunk = f.read()
        if chunk:
            whole = chunk[: chunk.rfind(b"\n") + 1]
            seen[p] = (seen[p][0] + len(whole), seen[p][1] + whole.count(b"\n"))
    return sum(n for _, n in seen.values())


def outbox_state(node, min_id, type_=None):
    where = "id > %s" + (" AND type = %s" if type_ else "")
    params = (min_id, type_) if type_ else (min_id,)
    return dict(node.sql(f"SELECT status, count(*) FROM exchange_outboxmessage WHERE {where} GROUP BY status", params))


def max_id(node, table):
    return node.sql(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0]


def log_problems(node):
    """(count, a few sample lines) of error-looking lines in the node's web and relay logs."""
    lines = []
    for name in ("web.log", "relay.log"):
        path = node.log_dir / name
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if re.search(r"Traceback|ERROR|CRITICAL|Exception|dead letter|rejected|\" 5\d\d ", line):
                    lines.append(f"{name}: {line[:240]}")
    return len(lines), lines[:8]


def fmt_summary(s):
    if not s["n"]:
        return "n=0"
    return f"n={s['n']}  p50 {s['p50']:.0f} ms  p95 {s['p95']:.0f} ms  p99 {s['p99']:.0f} ms  max {s['max']:.0f} ms"


def run(args):
    t_all = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-handoff-"))
    specs = [dict(SPECS[0], workers=args.a_workers), dict(SPECS[1], workers=args.b_workers)]
    log(f"{machine_load()}; {cpu_speed()}")
    log(f"starting cluster (PostgreSQL {args.db}) ...")
    with harness.cluster(specs, db=args.db, env=node_env(args), start=False, keep=args.keep) as nodes:
        a, b = nodes["A"], nodes["B"]
        for n in (a, b):
            use_relay_interval(n, args.relay_interval)
            n.start(wait=False)
        for n in (a, b):
            n.wait_ready()
        log(f"cluster up: A {a.url} ({a.db_name}), B {b.url} ({b.db_name}); harness timings {nodes.timings}")

        # --- data (not timed) ---
        t = time.monotonic()
        run_in(a, "generate", "--cases", args.cases, "--out", workdir / "ids.json")
        gen = json.loads((workdir / "ids.json").read_text())
        ids = gen["ids"]
        log(f"generated {len(ids)} drafts with {gen['materials']} material(s) each in {time.monotonic() - t:.1f} s")
        a_base, b_base = max_id(a, "exchange_outboxmessage"), max_id(b, "exchange_outboxmessage")
        b_inbox_base, a_inbox_base = max_id(b, "exchange_inboxmessage"), max_id(a, "exchange_inboxmessage")
        b_case_base = max_id(b, "cases_case")
        if args.queries:  # the probe's hand-off belongs to the run (counted, not timed)
            q = json.loads(run_in(a, "queries", env={"TONGBAN_DEBUG": "true"}).strip().splitlines()[-1])
            log(f"one forward (DEBUG, in-process): {q['forward_queries']} SQL statements, {q['forward_ms']} ms wall, {q['sql_ms']} ms in SQL")
            ids = [i for i in ids if i != ids[0]]  # the probe forwarded the first draft
        n = len(ids)

        # --- timed phase ---
        fracs = kill_fractions(args.restarts)
        per_worker_rate = args.rate / args.workers if args.rate else 0
        outs = [workdir / f"forwards-{k}.jsonl" for k in range(args.workers)]
        for p in outs:
            p.touch()
        seen = {p: (0, 0) for p in outs}
        ids_file = workdir / "ids-run.json"
        ids_file.write_text(json.dumps({"ids": ids}))
        log(f"timed phase: {n} forwards by {args.workers} worker(s){f' at {args.rate:g}/s' if args.rate else ''}; "
            f"B killed at {', '.join(f'{f:.0%}' for f in fracs) or 'never'} of the forwards for {args.outage:g} s + boot")
        t_start = time.time()
        procs = [subprocess.Popen([harness.PYTHON, GEN, "forward", "--ids", ids_file, "--worker", str(k), "--of", str(args.workers),
                                   "--rate", str(per_worker_rate), "--out", outs[k]], cwd=ROOT, env=a.env) for k in range(args.workers)]
        last_print = 0.0

        def progress(note=""):
            nonlocal last_print
            done = count_lines(outs, seen)
            if time.monotonic() - last_print >= args.progress or note:
                st = outbox_state(a, a_base, "case_handoff")
                el = time.time() - t_start
                log(f"  {el:6.1f} s  forwarded {done}/{n} ({done / el:.0f}/s)  A→B delivered {st.get('delivered', 0)} pending {st.get('pending', 0)}"
                    f" dead {st.get('dead', 0)}  B {'up' if b.web_running else 'DOWN'}{'  ' + note if note else ''}")
                last_print = time.monotonic()
            return done

        outages = kill_and_restart(b, procs, fracs, n, progress, args.outage, t_start)
        t_forward_end = time.time()
        forwards = [json.loads(line) for p in outs for line in p.read_text().splitlines() if line.strip()]
        ok = [f for f in forwards if f["ok"]]
        errors = [f for f in forwards if not f["ok"]]
        forward_ms = summary([(f["t1"] - f["t0"]) * 1000 for f in ok])
        forward_rate = len(ok) / (max(f["t1"] for f in ok) - min(f["t0"] for f in ok)) if ok else 0.0
        log(f"forwards done: {len(ok)} ok, {len(errors)} failed, {forward_rate:.1f} forwards/s; forward call {fmt_summary(forward_ms)}")
        for e in errors[:5]:
            log(f"  forward of case {e['pk']} failed: {e['error']}")

        # --- wait for delivery of everything ---
        deadline = time.monotonic() + args.timeout
        expected = len(ok) + (1 if args.queries else 0)
        while time.monotonic() < deadline:
            st = outbox_state(a, a_base, "case_handoff")
            back = outbox_state(b, b_base)
            if st.get("pending", 0) == 0 and sum(st.values()) >= expected and back.get("pending", 0) == 0 and sum(back.values()) >= expected:
                break
            if time.monotonic() - last_print >= args.progress:
                log(f"  draining: A→B {st}  B→A {back}")
                last_print = time.monotonic()
            time.sleep(0.5)
        t_drained = time.time()
        nodes.assert_alive()

        # --- figures ---
        rows = a.sql("SELECT stream, extract(epoch FROM created_at)::float8, extract(epoch FROM delivered_at)::float8, status, result, tries "
                     "FROM exchange_outboxmessage WHERE id > %s AND type = 'case_handoff' ORDER BY id", (a_base,))
        delivered = [r for r in rows if r[3] == "delivered"]
        lat = [(r[2] - r[1]) * 1000 for r in delivered]
        margin = args.margin
        in_outage = outage_test(outages, margin)
        lat_out = [(r[2] - r[1]) * 1000 for r in delivered if not in_outage(r[1])]
        lat_in = [(r[2] - r[1]) * 1000 for r in delivered if in_outage(r[1])]
        span = (max(r[2] for r in delivered) - min(r[1] for r in rows)) if delivered else float("nan")
        throughput = len(delivered) / span if delivered else 0.0
        not_delivered = len(rows) - len(delivered)
        results = {}
        for r in rows:
            results[r[4] or r[3]] = results.get(r[4] or r[3], 0) + 1
        tries_hist = {}
        for r in rows:
            tries_hist[r[5]] = tries_hist.get(r[5], 0) + 1

        forwarded_uids = [r[0] for r in a.sql("SELECT uid::text FROM cases_case WHERE id = ANY(%s) AND status <> 'draft'", (ids + ([gen["ids"][0]] if args.queries else []),))]
        on_b = {r[0] for r in b.sql("SELECT uid::text FROM cases_case WHERE uid = ANY(%s::uuid[])", (forwarded_uids,))}
        lost = len(set(forwarded_uids) - on_b)
        dup = {
            "B_cases_with_2+_receive_handoff": b.sql("SELECT count(*) FROM (SELECT case_id FROM cases_caseevent WHERE action = 'receive_handoff' "
                                                     "GROUP BY case_id HAVING count(*) > 1) t")[0][0],
            "B_events_same_case_origin": b.sql("SELECT count(*) FROM (SELECT case_id, origin FROM cases_caseevent WHERE origin <> '' "
                                               "GROUP BY case_id, origin HAVING count(*) > 1) t")[0][0],
            "A_events_same_case_origin": a.sql("SELECT count(*) FROM (SELECT case_id, origin FROM cases_caseevent WHERE origin <> '' "
                                               "GROUP BY case_id, origin HAVING count(*) > 1) t")[0][0],
            "B_inbox_applied_twice": (lambda t: t[0] - t[1])(b.sql("SELECT count(*), count(DISTINCT (sender, message_id)) FROM exchange_inboxmessage")[0]),
            "A_inbox_applied_twice": (lambda t: t[0] - t[1])(a.sql("SELECT count(*), count(DISTINCT (sender, message_id)) FROM exchange_inboxmessage")[0]),
            "A_case_handoff_rows_per_stream>1": a.sql("SELECT count(*) FROM (SELECT stream FROM exchange_outboxmessage WHERE type = 'case_handoff' "
                                                     "AND id > %s GROUP BY stream HAVING count(*) > 1) t", (a_base,))[0][0],
            "B_copies_per_uid>1": b.sql("SELECT count(*) FROM (SELECT uid FROM cases_case GROUP BY uid HAVING count(*) > 1) t")[0][0],
        }
        duplicated = sum(dup.values())
        b_new_cases = b.sql("SELECT count(*) FROM cases_case WHERE id > %s", (b_case_base,))[0][0]
        b_receive = b.sql("SELECT count(DISTINCT e.case_id) FROM cases_caseevent e JOIN cases_case c ON c.id = e.case_id "
                          "WHERE e.action = 'receive_handoff' AND c.uid = ANY(%s::uuid[])", (forwarded_uids,))[0][0]
        b_materials = b.sql("SELECT count(*) FROM cases_casematerial m JOIN cases_case c ON c.id = m.case_id WHERE c.uid = ANY(%s::uuid[])",
                            (forwarded_uids,))[0][0]
        b_inbox = dict(b.sql("SELECT status, count(*) FROM exchange_inboxmessage WHERE id > %s GROUP BY status", (b_inbox_base,)))
        b_rejections = b.sql("SELECT count(*) FROM exchange_rejection")[0][0]
        acks = b.sql("SELECT status, count(*), percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) "
                     "FROM exchange_outboxmessage WHERE id > %s AND receiver = 'A' GROUP BY status", (b_base,))
        ack_types = dict(b.sql("SELECT type, count(*) FROM exchange_outboxmessage WHERE id > %s AND receiver = 'A' GROUP BY type", (b_base,)))
        a_applied_acks = a.sql("SELECT count(DISTINCT e.case_id) FROM cases_caseevent e JOIN cases_case c ON c.id = e.case_id "
                               "WHERE e.action = 'receive_handoff' AND c.uid = ANY(%s::uuid[])", (forwarded_uids,))[0][0]
        a_inbox = dict(a.sql("SELECT status, count(*) FROM exchange_inboxmessage WHERE id > %s GROUP BY status", (a_inbox_base,)))
        problems = {nid: log_problems(node) for nid, node in nodes.items()}
        t0 = t_start

        # --- print ---
        print()
        print(f"hand-offs A (370000) → B (150000), PostgreSQL, {args.workers} forward worker(s), B gunicorn {args.b_workers}x4, "
              f"relay interval {args.relay_interval:g} s, exchange timeout {args.exchange_timeout or 30:g} s, {len(outages)} kill/restart(s) of B")
        print(f"  forwards            {len(ok)} of {n} ok ({len(errors)} failed), {forward_rate:.1f} forwards/s; "
              f"forward call {fmt_summary(forward_ms)}")
        print(f"  throughput          {throughput:.1f} hand-offs acknowledged/s  ({len(delivered)} over {span:.1f} s, first created → last delivered)"
              f"   goal ≥ {GOAL_RATE:g}/s")
        print(f"  latency all         {fmt_summary(summary(lat))}   goal p99 ≤ {GOAL_P99_S * 1000:g} ms")
        print(f"  latency outside     {fmt_summary(summary(lat_out))}   (created outside kill − {margin:g} s … ready + {margin:g} s)")
        print(f"  latency in outages  {fmt_summary(summary(lat_in))}")
        print(f"  lost                {lost}   (forwarded on A, missing on B; {not_delivered} hand-off row(s) not delivered)")
        print(f"  duplicated          {duplicated}   {dup}")
        print(f"  outbox results      {results}; tries {dict(sorted(tries_hist.items()))}")
        print(f"  B                   {b_new_cases} new cases, {b_receive} with 办理地接收, {b_materials} materials; inbox {b_inbox}; rejections {b_rejections}")
        print(f"  acks B → A          {ack_types}: " + ", ".join(f"{s} {c} (p99 {p * 1000:.0f} ms)" if p is not None else f"{s} {c}" for s, c, p in acks)
              + f"; applied on A: {a_applied_acks} cases with 办理地接收; A inbox {a_inbox}")
        for i, o in enumerate(outages, 1):
            print(f"  outage {i}            killed at {o['killed'] - t0:.1f} s, restarted {o['restarted'] - t0:.1f} s, ready {o['ready'] - t0:.1f} s "
                  f"(down {o['ready'] - o['killed']:.1f} s)")
        print(f"  timeline            forwards {t_forward_end - t0:.1f} s, all delivered at {t_drained - t0:.1f} s; whole run {time.monotonic() - t_all:.0f} s")
        for nid, (count, sample) in problems.items():
            print(f"  node {nid} log         {count} error-looking line(s)" + "".join(f"\n      {s}" for s in sample))
        print(f"  machine             {machine_load()}")
        figures = {
            "cases": n, "forwards_ok": len(ok), "forward_errors": len(errors), "forward_rate": round(forward_rate, 1),
            "throughput": round(throughput, 1), "latency_ms": {k: round(v, 1) for k, v in summary(lat).items()},
            "latency_outside_outages_ms": {k: round(v, 1) for k, v in summary(lat_out).items()},
            "latency_in_outages_ms": {k: round(v, 1) for k, v in summary(lat_in).items()},
            "lost": lost, "not_delivered": not_delivered, "duplicated": duplicated, "duplicates": dup, "results": results,
            "acks": {s: c for s, c, _ in acks}, "acks_applied_on_A": a_applied_acks,
            "outages_s": [[round(o["killed"] - t0, 1), round(o["ready"] - t0, 1)] for o in outages],
            "workers": args.workers, "rate": args.rate, "b_workers": args.b_workers, "relay_interval": args.relay_interval,
            "exchange_timeout": args.exchange_timeout or 30.0,
            "log_problems": {nid: c for nid, (c, _) in problems.items()},
        }
        print(json.dumps(figures, ensure_ascii=False))
        if args.keep:
            print(f"kept: cluster {nodes.base_dir}, forward logs {workdir}", file=sys.stderr)



def outage_test(outages, margin):
    """in_outage(created): created within kill − margin … ready + margin of an outage (such a message
    necessarily waits for the restart)."""
    return lambda created: any(o["killed"] - margin <= created <= o["ready"] + margin for o in outages)


def kill_fractions(restarts):
    """When to kill the receiver: spread over 20–70 % of the run."""
    if restarts > 1:
        return [0.2 + 0.5 * i / (restarts - 1) for i in range(restarts)]
    return [0.45] if restarts else []


def kill_and_restart(b, procs, fracs, n, progress, outage, t_start):
    """The timed phase's driver: while the worker processes run, SIGKILL node B (web + relay) when
    `progress()` reaches each fraction of `n`, keep it dead `outage` seconds, start it again; returns
    the outage windows. Workers still running at an error are killed."""
    outages = []
    try:
        for frac in fracs:
            while progress() < frac * n and any(p.poll() is None for p in procs):
                time.sleep(0.2)
            t_kill = time.time()
            b.stop()
            progress(f"B killed (SIGKILL web + relay) at {t_kill - t_start:.1f} s")
            while time.time() < t_kill + outage:
                progress()
                time.sleep(0.2)
            t_restart = time.time()
            b.start(wait=True)
            t_up = time.time()
            outages.append({"killed": t_kill, "restarted": t_restart, "ready": t_up})
            progress(f"B back (boot {t_up - t_restart:.1f} s, down {t_up - t_kill:.1f} s)")
        while any(p.poll() is None for p in procs):
            progress()
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outages

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10000)
    p.add_argument("--workers", type=int, default=2, help="forward worker processes on A")
    p.add_argument("--rate", type=float, default=0.0, help="total forwards per second (0: as fast as the workers go)")
    p.add_argument("--restarts", type=int, default=3, help="kills and restarts of B during the forwards")
    p.add_argument("--outage", type=float, default=3.0, help="seconds B stays dead before it is started again (its boot comes on top)")
    p.add_argument("--margin", type=float, default=2.0, help="seconds around an outage whose messages count as 'in the outage'")
    p.add_argument("--a-workers", type=int, default=2, help="gunicorn workers of A")
    p.add_argument("--b-workers", type=int, default=2, help="gunicorn workers of B")
    p.add_argument("--relay-interval", type=float, default=0.2, help="exchange_relay --interval (idle poll) of both nodes")
    p.add_argument("--exchange-timeout", type=float, default=0.0,
                   help="TONGBAN_EXCHANGE_TIMEOUT_SECONDS of the relays (0: the application's default, 10 s)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for delivery after the last forward")
    p.add_argument("--progress", type=float, default=3.0, help="seconds between progress lines")
    p.add_argument("--db", default="postgres://postgres@127.0.0.1:5432/postgres", help="PostgreSQL server for the node databases")
    p.add_argument("--log-level", default="WARNING", help="TONGBAN_LOG_LEVEL of the nodes")
    p.add_argument("--debug", action="store_true", help="run the nodes with TONGBAN_DEBUG=true (the harness default)")
    p.add_argument("--queries", action="store_true", help="first count the SQL statements of one forward (DEBUG, in-process)")
    p.add_argument("--keep", action="store_true", help="keep the cluster dirs (logs) and the forward logs")
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()

"""Benchmark of the exchange transport alone under receiver crashes: the path of bench/handoff.py
(two real nodes on loopback, gunicorn web + `manage.py exchange_relay` each, own PostgreSQL database
each; tests/multinode/harness.py) with messages that carry no case work.

bench/handoff.py measures whole case hand-offs (the case transaction on A, B's copy of the case,
its materials and events, the status_update back to A); this bench separates the transport's capacity
from that cost. The message is the built-in `ping` of tongban.exchange.service, whose handler does
nothing: one transaction on A writes the outbox row (service.send, a stream of its own per message as
one case per hand-off, a padding of --payload-bytes to resemble a small payload); A's relay signs and
delivers it in batches to B's inbox, which verifies, stores and "applies" it and answers; the
acknowledgement is the outbox row's `delivered_at`. Nothing comes back to A.

Node A serves 370000, node B 150000, both with TONGBAN_DEBUG=false and WARNING logs (as handoff.py).
Timed: W sender processes in A's environment (bench/exchange_transport_gen.py send) send their share
of N pings as fast as they can (or at --rate), while B is SIGKILLed (web + relay: a crash) and started
again --restarts times, at evenly spaced fractions of the sends between 20 % and 70 %, each outage
lasting --outage seconds plus B's boot. No `retry_outbox_now`: the relay's own back-off brings delivery
back. Then the bench waits until every ping is delivered (or --timeout).

Printed (and as one JSON line at the end): sends and send rate; throughput = pings acknowledged per
second = delivered / (last delivered_at − first created_at) over the run's ping rows; latency
created_at → delivered_at p50/p95/p99/max overall and for messages created outside the outage windows
(kill − --margin … B ready + --margin, as handoff.py); lost = ping rows not delivered within the
timeout or missing from B's exchange_inboxmessage (by message_id; a row counts once even if both);
duplicated = B inbox rows per (sender, message_id) > 1 and ping rows per stream > 1 on A, with the
outbox results "duplicate" reported apart (a duplicate answer is a resend the receiver recognised, not
a double application); the outage windows; errors in the node logs. No timed assertions: figures only.

    .venv/bin/python bench/exchange_transport.py --count 1000       # under a minute
    .venv/bin/python bench/exchange_transport.py                    # 10,000 pings, 3 restarts
    .venv/bin/python bench/exchange_transport.py --count 5000 --restarts 0 --rate 200 --payload-bytes 0

PostgreSQL server: --db (default postgres://postgres@127.0.0.1:5432/postgres); the harness creates the
node databases tongban_node_* from its template and drops them at exit.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from case_data import cpu_speed, log, machine_load, summary  # noqa: E402
from handoff import (  # noqa: E402
    SPECS,
    fmt_summary,
    kill_and_restart,
    kill_fractions,
    log_problems,
    max_id,
    node_env,
    outage_test,
    outbox_state,
    use_relay_interval,
)

from tests.multinode import harness  # noqa: E402

GEN = str(ROOT / "bench" / "exchange_transport_gen.py")
TYPE = "ping"


def rounded(s):
    return {k: round(v, 1) for k, v in s.items()}


def run(args):
    t_all = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-exchange-transport-"))
    specs = [dict(SPECS[0], workers=args.a_workers), dict(SPECS[1], workers=args.b_workers)]
    log(f"{machine_load()}; {cpu_speed()}")
    log(f"starting cluster (PostgreSQL {args.db}) ...")
    with harness.cluster(specs, db=args.db, env=node_env(args), start=False, keep=args.keep) as nodes:
        a, b = nodes["A"], nodes["B"]
        for node in (a, b):
            use_relay_interval(node, args.relay_interval)
            node.start(wait=False)
        for node in (a, b):
            node.wait_ready()
        log(f"cluster up: A {a.url} ({a.db_name}), B {b.url} ({b.db_name}); harness timings {nodes.timings}")
        a_base = max_id(a, "exchange_outboxmessage")
        b_inbox_base = max_id(b, "exchange_inboxmessage")
        n = args.count

        # --- timed phase ---
        fracs = kill_fractions(args.restarts)
        per_worker_rate = args.rate / args.workers if args.rate else 0
        outs = [workdir / f"send-{k}.json" for k in range(args.workers)]
        log(f"timed phase: {n} pings ({args.payload_bytes} B padding) by {args.workers} worker(s){f' at {args.rate:g}/s' if args.rate else ''}; "
            f"B killed at {', '.join(f'{f:.0%}' for f in fracs) or 'never'} of the sends for {args.outage:g} s + boot")
        t_start = time.time()
        procs = []
        for k in range(args.workers):
            with open(outs[k], "w") as out:
                procs.append(subprocess.Popen([harness.PYTHON, GEN, "send", "--count", str(n), "--worker", str(k), "--of", str(args.workers),
                                               "--rate", str(per_worker_rate), "--payload-bytes", str(args.payload_bytes)],
                                              cwd=ROOT, env=a.env, stdout=out))
        last_print = 0.0

        def progress(note=""):
            """Pings sent so far (the run's ping rows in A's outbox); a progress line now and then."""
            nonlocal last_print
            st = outbox_state(a, a_base, TYPE)
            done = sum(st.values())
            if time.monotonic() - last_print >= args.progress or note:
                el = time.time() - t_start
                log(f"  {el:6.1f} s  sent {done}/{n} ({done / el:.0f}/s)  A→B delivered {st.get('delivered', 0)} pending {st.get('pending', 0)}"
                    f" dead {st.get('dead', 0)}  B {'up' if b.web_running else 'DOWN'}{'  ' + note if note else ''}")
                last_print = time.monotonic()
            return done

        outages = kill_and_restart(b, procs, fracs, n, progress, args.outage, t_start)
        t_send_end = time.time()
        workers = []
        for k, p in enumerate(procs):
            lines = [line for line in outs[k].read_text().splitlines() if line.strip()]
            if p.returncode != 0 or not lines:
                log(f"  sender {k} exited with code {p.returncode} (no summary)")
                continue
            workers.append(json.loads(lines[-1]))
        sent = sum(w["sent"] for w in workers)
        send_errors = sum(w["errors"] for w in workers) + n - sum(w["sent"] + w["errors"] for w in workers)
        send_span = (max(w["t1"] for w in workers) - min(w["t0"] for w in workers)) if workers else float("nan")
        send_rate = sent / send_span if workers and send_span > 0 else 0.0
        log(f"sends done: {sent} ok, {send_errors} failed or missing, {send_rate:.1f} sends/s over {send_span:.1f} s")

        # --- wait for delivery of everything ---
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            st = outbox_state(a, a_base, TYPE)
            if st.get("pending", 0) == 0 and sum(st.values()) >= sent:
                break
            if time.monotonic() - last_print >= args.progress:
                log(f"  draining: A→B {st}")
                last_print = time.monotonic()
            time.sleep(0.5)
        t_drained = time.time()
        nodes.assert_alive()

        # --- figures ---
        rows = a.sql("SELECT message_id::text, stream, extract(epoch FROM created_at)::float8, extract(epoch FROM delivered_at)::float8, "
                     "status, result, tries FROM exchange_outboxmessage WHERE id > %s AND type = %s ORDER BY id", (a_base, TYPE))
        delivered = [r for r in rows if r[4] == "delivered"]
        in_outage = outage_test(outages, args.margin)
        lat = [(r[3] - r[2]) * 1000 for r in delivered]
        lat_out = [(r[3] - r[2]) * 1000 for r in delivered if not in_outage(r[2])]
        lat_in = [(r[3] - r[2]) * 1000 for r in delivered if in_outage(r[2])]
        span = (max(r[3] for r in delivered) - min(r[2] for r in rows)) if delivered else float("nan")
        throughput = len(delivered) / span if delivered and span > 0 else 0.0
        results, tries_hist = {}, {}
        for r in rows:
            results[r[5] or r[4]] = results.get(r[5] or r[4], 0) + 1
            tries_hist[r[6]] = tries_hist.get(r[6], 0) + 1

        message_ids = [r[0] for r in rows]
        on_b = {r[0] for r in b.sql("SELECT message_id::text FROM exchange_inboxmessage WHERE sender = 'A' AND type = %s "
                                    "AND message_id = ANY(%s::uuid[])", (TYPE, message_ids))}
        not_delivered = {r[0] for r in rows if r[4] != "delivered"}
        missing_on_b = set(message_ids) - on_b
        lost = len(not_delivered | missing_on_b)
        dup = {
            "B_inbox_rows_per_sender_message_id>1": b.sql(
                "SELECT count(*) FROM (SELECT sender, message_id FROM exchange_inboxmessage WHERE message_id = ANY(%s::uuid[]) "
                "GROUP BY sender, message_id HAVING count(*) > 1) t", (message_ids,))[0][0],
            "A_ping_rows_per_stream>1": a.sql(
                "SELECT count(*) FROM (SELECT stream FROM exchange_outboxmessage WHERE type = %s AND id > %s "
                "GROUP BY stream HAVING count(*) > 1) t", (TYPE, a_base))[0][0],
        }
        duplicated = sum(dup.values())
        duplicate_answers = results.get("duplicate", 0)
        b_inbox = dict(b.sql("SELECT status, count(*) FROM exchange_inboxmessage WHERE id > %s AND type = %s GROUP BY status",
                             (b_inbox_base, TYPE)))
        b_rejections = b.sql("SELECT count(*) FROM exchange_rejection")[0][0]
        problems = {nid: log_problems(node) for nid, node in nodes.items()}
        t0 = t_start

        # --- print ---
        print()
        print(f"exchange transport A (370000) → B (150000): ping messages, {args.payload_bytes} B padding, PostgreSQL, "
              f"{args.workers} sender worker(s), B gunicorn {args.b_workers}x4, relay interval {args.relay_interval:g} s, "
              f"exchange timeout {args.exchange_timeout or 30:g} s, {len(outages)} kill/restart(s) of B")
        print(f"  sends               {sent} of {n} ok ({send_errors} failed), {send_rate:.1f} sends/s")
        print(f"  throughput          {throughput:.1f} pings acknowledged/s  ({len(delivered)} over {span:.1f} s, first created → last delivered)")
        print(f"  latency all         {fmt_summary(summary(lat))}")
        print(f"  latency outside     {fmt_summary(summary(lat_out))}   (created outside kill − {args.margin:g} s … ready + {args.margin:g} s)")
        print(f"  latency in outages  {fmt_summary(summary(lat_in))}")
        print(f"  lost                {lost}   ({len(not_delivered)} ping row(s) not delivered, {len(missing_on_b)} missing from B's inbox)")
        print(f"  duplicated          {duplicated}   {dup}")
        print(f"  duplicate answers   {duplicate_answers}   (outbox result 'duplicate': a resend B recognised, not applied twice)")
        print(f"  outbox results      {results}; tries {dict(sorted(tries_hist.items()))}")
        print(f"  B inbox             {b_inbox}; rejections {b_rejections}")
        for i, o in enumerate(outages, 1):
            print(f"  outage {i}            killed at {o['killed'] - t0:.1f} s, restarted {o['restarted'] - t0:.1f} s, ready {o['ready'] - t0:.1f} s "
                  f"(down {o['ready'] - o['killed']:.1f} s)")
        print(f"  timeline            sends {t_send_end - t0:.1f} s, all delivered at {t_drained - t0:.1f} s; whole run {time.monotonic() - t_all:.0f} s")
        for nid, (count, sample) in problems.items():
            print(f"  node {nid} log         {count} error-looking line(s)" + "".join(f"\n      {s}" for s in sample))
        print(f"  machine             {machine_load()}")
        figures = {
            "count": n, "payload_bytes": args.payload_bytes, "sends_ok": sent, "send_errors": send_errors, "send_rate": round(send_rate, 1),
            "throughput": round(throughput, 1), "latency_ms": rounded(summary(lat)),
            "latency_outside_outages_ms": rounded(summary(lat_out)), "latency_in_outages_ms": rounded(summary(lat_in)),
            "lost": lost, "not_delivered": len(not_delivered), "missing_on_B": len(missing_on_b),
            "duplicated": duplicated, "duplicates": dup, "duplicate_answers": duplicate_answers, "results": results,
            "tries": {str(k): v for k, v in sorted(tries_hist.items())}, "b_inbox": b_inbox, "b_rejections": b_rejections,
            "outages_s": [[round(o["killed"] - t0, 1), round(o["ready"] - t0, 1)] for o in outages],
            "workers": args.workers, "rate": args.rate, "b_workers": args.b_workers, "relay_interval": args.relay_interval,
            "exchange_timeout": args.exchange_timeout or 30.0,
            "log_problems": {nid: c for nid, (c, _) in problems.items()},
        }
        print(json.dumps(figures, ensure_ascii=False))
        if args.keep:
            print(f"kept: cluster {nodes.base_dir}, sender output {workdir}", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=10000, help="ping messages to send")
    p.add_argument("--workers", type=int, default=2, help="sender worker processes on A")
    p.add_argument("--rate", type=float, default=0.0, help="total sends per second (0: as fast as the workers go)")
    p.add_argument("--payload-bytes", type=int, default=2000, help="padding string in each ping's payload")
    p.add_argument("--restarts", type=int, default=3, help="kills and restarts of B during the sends")
    p.add_argument("--outage", type=float, default=3.0, help="seconds B stays dead before it is started again (its boot comes on top)")
    p.add_argument("--margin", type=float, default=2.0, help="seconds around an outage whose messages count as 'in the outage'")
    p.add_argument("--a-workers", type=int, default=2, help="gunicorn workers of A")
    p.add_argument("--b-workers", type=int, default=2, help="gunicorn workers of B")
    p.add_argument("--relay-interval", type=float, default=0.2, help="exchange_relay --interval (idle poll) of both nodes")
    p.add_argument("--exchange-timeout", type=float, default=0.0,
                   help="TONGBAN_EXCHANGE_TIMEOUT_SECONDS of the relays (0: the application's default, 30 s)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for delivery after the last send")
    p.add_argument("--progress", type=float, default=3.0, help="seconds between progress lines")
    p.add_argument("--db", default="postgres://postgres@127.0.0.1:5432/postgres", help="PostgreSQL server for the node databases")
    p.add_argument("--log-level", default="WARNING", help="TONGBAN_LOG_LEVEL of the nodes")
    p.add_argument("--debug", action="store_true", help="run the nodes with TONGBAN_DEBUG=true (the harness default)")
    p.add_argument("--keep", action="store_true", help="keep the cluster dirs (logs) and the sender output")
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()

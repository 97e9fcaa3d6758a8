"""Helper of bench/exchange_transport.py, run inside node A's environment (DATABASE_URL,
TONGBAN_VAR_DIR, ... of the node, as `Node.env` gives them): Django is set up against A's database.

    exchange_transport_gen.py send --count N --worker K --of W [--rate R] [--payload-bytes P]

`send` sends this worker's share of N `ping` messages to node B (every W-th of 0..N-1 from K), each
in its own transaction through the real `service.send("B", service.PING, {"from": "A", "pad": "x" * P},
stream=f"bench-{uuid}")`: one stream per message, as one case per hand-off. The ping handler does
nothing, so the message costs only the exchange itself (outbox row, relay, signed envelope, B's
inbox). At full speed or at R messages/s. Nothing is recorded per message (the outbox rows carry
created_at); at the end one JSON line on stdout: {"worker", "sent", "errors", "t0", "t1"} (wall-clock
epoch seconds), failed sends (after 3 tries) on stderr.
"""

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings")
    import django

    django.setup()


def share(count, worker, of):
    """How many of count messages worker K of W sends (every W-th from K)."""
    return len(range(worker, count, of))


def send(count, worker, of, rate, payload_bytes, receiver="B"):
    from django.db import connection, transaction

    from tongban.exchange import service

    mine = share(count, worker, of)
    payload = {"from": "A", "pad": "x" * payload_bytes}
    interval = 1.0 / rate if rate else 0.0
    sent = errors = 0
    start = time.monotonic()
    t0 = time.time()
    for n in range(mine):
        if interval:
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        error = ""
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    service.send(receiver, service.PING, payload, stream=f"bench-{uuid.uuid4()}")
                error = ""
                break
            except Exception as exc:  # reported; a lock timeout or serialisation failure is tried again
                error = f"{type(exc).__name__}: {exc}"[:300]
                connection.close()
                time.sleep(0.05)
        if error:
            errors += 1
            if errors <= 5:
                print(f"worker {worker}: send failed: {error}", file=sys.stderr, flush=True)
        else:
            sent += 1
    print(json.dumps({"worker": worker, "sent": sent, "errors": errors, "t0": t0, "t1": time.time()}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--count", type=int, required=True, help="messages of all workers together")
    s.add_argument("--worker", type=int, required=True)
    s.add_argument("--of", type=int, required=True)
    s.add_argument("--rate", type=float, default=0.0, help="messages per second of this worker (0: as fast as possible)")
    s.add_argument("--payload-bytes", type=int, default=2000, help="length of the payload's padding string")
    s.add_argument("--receiver", default="B")
    args = p.parse_args()
    setup()
    send(args.count, args.worker, args.of, args.rate, args.payload_bytes, args.receiver)


if __name__ == "__main__":
    main()

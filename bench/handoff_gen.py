"""Helper of bench/handoff.py, run inside node A's environment (DATABASE_URL, TONGBAN_VAR_DIR, ... of
the node, as `Node.env` gives them): Django is set up against A's database and media.

    handoff_gen.py generate --cases N --out ids.json     # N proxy drafts ready to forward (not timed)
    handoff_gen.py forward --ids ids.json --worker K --of W [--rate R] --out forwards-K.jsonl
    handoff_gen.py queries                               # SQL statements of one forward (DEBUG run)

`generate` opens one draft through the real services (proxy.open_case, proxy.record_check, materials
stored as blobs) and clones it N-1 times with bulk_create: a new uid, a new applicant (own account,
valid 公民身份号码) and its own material files (distinct 2–4 KB PDF bytes per case and material, so
content addressing never short-circuits and the blobs really travel). `forward` calls the real
lifecycle step `handling.perform(pk, "forward", clerk)` over its share of the drafts (every W-th id
from K), at full speed or at R forwards/s, and writes one JSON line per forward:
{"pk", "t0", "t1", "ok", "error"} (wall-clock epoch seconds).
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPLEMENTATION_CODE = "11150602MB5498656T4002010007000"  # 养老保险关系转移接续, 东胜区 (node B), fee 0, 跨省通办
CLERK = "demo_clerk"  # 莒南县 (371327) window clerk on node A
FORM = {"reason": "在莒南县跨域通办专窗申请", "residence": "371327", "address": "山东省临沂市莒南县十字路街道1号"}
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "秀兰建国志强桂英玉梅海燕明华丽娟文军春生"


def setup():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings")
    import django

    django.setup()
    from tongban.cases import handling  # noqa: F401 - before proxy (handling imports proxy at load time)


def id_number(serial):
    """A valid 公民身份号码 of 莒南县 (GB 11643 check character), distinct per serial below 5·10^5."""
    from tongban.core.codes import id_check_char

    year, day, rest = 1950 + (serial // 10000) % 50, (serial // 1000) % 10, serial % 1000
    first17 = f"371327{year}03{day + 10:02d}{rest:03d}"
    return first17 + id_check_char(first17)


def pdf_bytes(rng, tag):
    """A small PDF-looking file of 2–4 KB, distinct per tag."""
    body = rng.randbytes(rng.randint(2048, 4096) - 80)
    return b"%PDF-1.4\n% handoff bench " + tag.encode() + b"\n" + body + b"\n%%EOF\n"


def generate(n, seed, serial_base):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from tongban.applicants.models import Applicant
    from tongban.cases import proxy
    from tongban.cases.models import Case, CaseMaterial
    from tongban.core.files import store_many

    rng = random.Random(seed)
    User = get_user_model()  # noqa: N806
    clerk = User.objects.get(username=CLERK)
    t0 = time.perf_counter()

    def person(i):
        return {"kind": "natural", "name": SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 3) % len(GIVEN)] + GIVEN[(i // 7) % len(GIVEN)],
                "id_number": id_number(serial_base + i), "phone": f"139{(serial_base + i) % 10**8:08d}"}

    # 1. One draft through the services: what the window does before `forward`.
    first = proxy.open_case(clerk, IMPLEMENTATION_CODE, person(0), form=FORM, delivery_method="mail")
    version = first.item_version
    materials = [m for m in version.materials.order_by("seq") if m.necessity == "required"]
    proxy.record_check(clerk, first.pk, "face", originals_checked=[m.pk for m in version.materials.all() if m.original_check],
                       formal_review=[{"point": p, "ok": True} for p in proxy.review_points(version)])
    first.refresh_from_db()
    ids = [first.pk]

    def add_materials(cases):
        blobs = store_many([(pdf_bytes(rng, f"{c.uid}/{m.seq}"), "application/pdf") for c in cases for m in materials])
        rows, k = [], 0
        for c in cases:
            for m in materials:
                rows.append(CaseMaterial(case=c, material=m, name=m.name, blob=blobs[k], file_name=f"{m.name}.pdf", how="window"))
                k += 1
        CaseMaterial.objects.bulk_create(rows)

    add_materials([first])
    proxy.check_ready(Case.objects.select_related("item_version").get(pk=first.pk))  # `forward`'s own checks pass

    # 2. N-1 clones, in batches: own uid, own applicant and account, own material files.
    skip = {"id", "uid", "applicant", "applicant_name", "applicant_code", "contact_phone", "created_at", "updated_at"}
    fields = [f for f in Case._meta.concrete_fields if f.name not in skip]
    batch = 500
    for start in range(1, n, batch):
        idx = range(start, min(n, start + batch))
        people = [person(i) for i in idx]
        with transaction.atomic():
            users = User.objects.bulk_create([User(username=f"p-bench-{uuid.uuid4().hex[:12]}", first_name=p["name"], password="!") for p in people])
            applicants = Applicant.objects.bulk_create([
                Applicant(user=u, kind="natural", applicant_type="1", name=p["name"], id_number=p["id_number"], phone=p["phone"])
                for u, p in zip(users, people)])
            cases = []
            for a in applicants:
                c = Case(uid=uuid.uuid4(), applicant=a, applicant_name=a.name, applicant_code=a.id_number, contact_phone=a.phone)
                for f in fields:
                    setattr(c, f.attname, getattr(first, f.attname))
                cases.append(c)
            cases = Case.objects.bulk_create(cases)
            add_materials(cases)
        ids.extend(c.pk for c in cases)
        print(f"generated {len(ids)}/{n} drafts ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    return {"ids": ids, "materials": len(materials), "seconds": round(time.perf_counter() - t0, 1)}


def forward(ids, worker, of, rate, out):
    from django.contrib.auth import get_user_model

    from tongban.cases import handling

    clerk = get_user_model().objects.get(username=CLERK)
    mine = ids[worker::of]
    interval = 1.0 / rate if rate else 0.0
    start = time.monotonic()
    with open(out, "w") as f:
        for n, pk in enumerate(mine):
            if interval:
                delay = start + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.time()
            error = ""
            for _attempt in range(3):
                try:
                    handling.perform(pk, "forward", clerk)
                    error = ""
                    break
                except Exception as exc:  # reported; a lock timeout or serialisation failure is tried again
                    error = f"{type(exc).__name__}: {exc}"[:300]
                    from django.db import connection

                    connection.close()
                    time.sleep(0.05)
            f.write(json.dumps({"pk": pk, "t0": t0, "t1": time.time(), "ok": not error, "error": error}) + "\n")
            f.flush()


def queries():
    """The SQL statements of one forward (run with TONGBAN_DEBUG=true so connection.queries is kept)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries

    from tongban.cases import handling
    from tongban.cases.models import Case

    clerk = get_user_model().objects.get(username=CLERK)
    pk = Case.objects.filter(status="draft", competent_node="B").order_by("id").values_list("pk", flat=True).first()
    reset_queries()
    t = time.perf_counter()
    handling.perform(pk, "forward", clerk)
    wall = time.perf_counter() - t
    qs = connection.queries
    print(json.dumps({"forward_queries": len(qs), "forward_ms": round(wall * 1000, 1),
                      "sql_ms": round(sum(float(q["time"]) for q in qs) * 1000, 1),
                      "statements": [q["sql"][:160] for q in qs]}, ensure_ascii=False))


class Counter:
    """Counts SQL statements (and their time) through connection.execute_wrapper: works with DEBUG off."""

    def __init__(self):
        self.n, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.n += 1
            self.seconds += time.perf_counter() - t


def profiled(fn, top):
    import cProfile
    import io
    import pstats

    from django.db import connection

    counter, prof = Counter(), cProfile.Profile(time.process_time)
    with connection.execute_wrapper(counter):
        t, c = time.perf_counter(), time.process_time()
        prof.enable()
        n = fn()
        prof.disable()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    stats.print_stats(r"tongban|gmssl|json|psycopg|django/db/models/sql/compiler", top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()][-top - 1:]
    return {"n": n, "wall_ms_each": round(wall * 1000 / n, 1), "cpu_ms_each": round(cpu * 1000 / n, 1),
            "queries_each": round(counter.n / n, 1), "sql_ms_each": round(counter.seconds * 1000 / n, 1), "top": lines}


def profile_forward(ids, n, body_out, top):
    """Forward n drafts in-process (no relay running: the messages stay pending), then write the
    relay's first batch of them (signed envelopes + base64 blobs) for profile-inbox on B."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tongban.cases import handling
    from tongban.exchange import relay, service, signing

    clerk = get_user_model().objects.get(username=CLERK)
    handling.perform(ids[0], "forward", clerk)  # warm-up (imports, caches)
    result = profiled(lambda: [handling.perform(pk, "forward", clerk) for pk in ids[1:n + 1]] and n, top)
    rows = relay._ordered_due(timezone.now(), 500)
    batch = next(b for b in relay._batches(rows, service.self_node(), signing.local_signer()) if b[0] == "batch")
    Path(body_out).write_text(json.dumps(batch[1]))
    result["batch_envelopes"], result["batch_bytes"] = len(batch[1]["envelopes"]), len(json.dumps(batch[1]))
    print(json.dumps(result, ensure_ascii=False))


def profile_inbox(body_in, top):
    """Apply a batch as B's inbox view does (inbox.receive), the first envelope as warm-up."""
    from tongban.exchange import inbox

    body = json.loads(Path(body_in).read_text())
    first = {"envelopes": body["envelopes"][:1], "blobs": body["blobs"]}
    rest = {"envelopes": body["envelopes"][1:], "blobs": body["blobs"]}
    inbox.receive(first)
    statuses = {}

    def apply():
        for r in inbox.receive(rest):
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        return len(rest["envelopes"])

    result = profiled(apply, top)
    result["statuses"] = statuses
    print(json.dumps(result, ensure_ascii=False))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--cases", type=int, required=True)
    g.add_argument("--seed", type=int, default=20260)
    g.add_argument("--serial-base", type=int, default=0, help="first applicant serial (distinct ID numbers across runs)")
    g.add_argument("--out", required=True)
    w = sub.add_parser("forward")
    w.add_argument("--ids", required=True)
    w.add_argument("--worker", type=int, required=True)
    w.add_argument("--of", type=int, required=True)
    w.add_argument("--rate", type=float, default=0.0, help="forwards per second of this worker (0: as fast as possible)")
    w.add_argument("--out", required=True)
    sub.add_parser("queries")
    pf = sub.add_parser("profile-forward")
    pf.add_argument("--ids", required=True)
    pf.add_argument("--n", type=int, default=40)
    pf.add_argument("--body-out", required=True)
    pf.add_argument("--top", type=int, default=25)
    pi = sub.add_parser("profile-inbox")
    pi.add_argument("--body-in", required=True)
    pi.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    setup()
    if args.cmd == "generate":
        result = generate(args.cases, args.seed, args.serial_base)
        Path(args.out).write_text(json.dumps(result))
    elif args.cmd == "forward":
        forward(json.loads(Path(args.ids).read_text())["ids"], args.worker, args.of, args.rate, args.out)
    elif args.cmd == "profile-forward":
        profile_forward(json.loads(Path(args.ids).read_text())["ids"], args.n, args.body_out, args.top)
    elif args.cmd == "profile-inbox":
        profile_inbox(args.body_in, args.top)
    else:
        queries()


if __name__ == "__main__":
    main()

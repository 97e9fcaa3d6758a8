"""Benchmark of the supervision cockpit's queries at 10,000,000 cases on PostgreSQL.

Data: bench/cockpit_gen.py (cases over every county, 730 days, modes, hand-offs, ratings and
rectifications, inquiries, the daily summary table), generated once and reused on the next run
(marker table bench_marker: generator and --cases); --regenerate builds it again.

Timed, for a national platform administrator and for the supervisor of the busiest prefecture, over
the last 365 days: every figure function of tongban.supervision.figures the cockpit page calls, and
the cross-region flows of the map (national, and drilled into the busiest province). Each query runs
--iterations times after --warmup; printed: p50/p95 per query. Goal: p95 ≤ 500 ms. Then the whole cockpit
and map pages over the same period, rendered through Django as each user (shown, not part of the goal).

    .venv/bin/python bench/cockpit.py                       # 10,000,000 cases in bench_cockpit on 127.0.0.1
    .venv/bin/python bench/cockpit.py --cases 1000000       # scaled down (own data, reused per size)
"""

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_data import cpu_speed, ensure_database, log, machine_load, marker, set_marker, setup_django, summary  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_cockpit"
GOAL_P95_MS = 500.0


def prepare(url, n_cases, regenerate):
    ensure_database(url, drop=regenerate)
    setup_django(url)
    import cockpit_gen
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        found = marker(cur)
    want = {"generator": cockpit_gen.GENERATOR, "cases": str(n_cases)}
    if all(found.get(k) == v for k, v in want.items()):
        log(f"reusing {n_cases:,} cases (--regenerate to rebuild)")
        if found.get("summaries") != cockpit_gen.SUMMARIES:  # the summary tables changed since: refilled from the same data
            only = cockpit_gen.added_since(found.get("summaries", "2"))
            log(f"summary tables {found.get('summaries', '2')} → {cockpit_gen.SUMMARIES}: filling {', '.join(sorted(only)) if only else 'all'}")
            cockpit_gen.fill_summaries(only=only)
            with connection.cursor() as cur:
                set_marker(cur, summaries=cockpit_gen.SUMMARIES)
        return
    from tongban.catalog.models import Item

    if found or Item.objects.exists():
        log(f"found data of {found or 'an unfinished generation'}, want {want}: regenerating")
        connections.close_all()
        ensure_database(url, drop=True)
        call_command("migrate", verbosity=0)
    cockpit_gen.generate(n_cases)
    with connection.cursor() as cur:
        set_marker(cur, **want, summaries=cockpit_gen.SUMMARIES)


def users():
    """(label, user): a national platform administrator and the busiest prefecture's supervisor."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from tongban.directory.models import Membership, Region

    with connection.cursor() as cur:  # from the summary table, not a scan of the cases
        cur.execute(
            "SELECT substring(region_path from '^[^/]+/[^/]+/[^/]+/'), sum(received) FROM supervision_dailycasefigure "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )
        pref_path, _ = cur.fetchone()
    User = get_user_model()
    out = []
    for label, username, role, region in [
        ("national admin", "bench-cockpit-admin", Membership.PLATFORM_ADMIN, Region.objects.get(parent__isnull=True)),
        ("prefecture supervisor", "bench-cockpit-supervisor", Membership.SUPERVISOR, Region.objects.get(path=pref_path)),
    ]:
        user, _ = User.objects.get_or_create(username=username, defaults={"first_name": label})
        Membership.objects.filter(user=user).delete()
        Membership.objects.create(user=user, role=role, region=region)
        out.append((f"{label} ({region.name})", user.pk, region))
    return out


def queries(region, start, end):
    """(name, function(user)) of what the cockpit and the map run."""
    from tongban.supervision import figures, flows

    f = figures.Filter(start=start, end=end, region_path=region.path)
    province = region.path.split("/")[1] if region.path.count("/") > 1 else None
    if province is None:  # nationally, drill into the busiest province
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT substring(region_path from 8 for 6), sum(received) FROM supervision_dailycasefigure GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
            province = cur.fetchone()[0]
    out = [
        (name, (lambda fn: lambda user: fn(user, f))(getattr(figures, name)))
        for name in ("case_counts", "open_overdue", "handoffs", "ratings", "inquiries", "trend", "region_ranking")
        if hasattr(figures, name)
    ]  # fmt: skip
    # As the cockpit page calls them: the top 20 departments and items.
    out.append(("department_ranking", lambda user: figures.department_ranking(user, f, limit=20)))
    out.append(("item_ranking", lambda user: figures.item_ranking(user, f, limit=20)))
    out.append(("flows (national)", lambda user: flows.flows(user, start, end)))
    out.append((f"flows (drill {province})", lambda user: flows.flows(user, start, end, province)))
    return out


def time_query(user_id, fn, iterations, warmup):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    for _ in range(warmup):
        fn(User.objects.get(pk=user_id))
    ms = []
    for _ in range(iterations):
        user = User.objects.get(pk=user_id)  # a fresh user per request: grants not cached
        t = time.perf_counter()
        fn(user)
        ms.append((time.perf_counter() - t) * 1000)
    return summary(ms)


def page_client(user_id):
    """A Django test client logged in as the user with a passed second factor (staff pages require it)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user = get_user_model().objects.get(pk=user_id)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="bench", defaults={"confirmed": True})
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def time_pages(user_id, start, end, iterations, warmup):
    """(name, summary) for the whole cockpit page and the map page over the period, rendered by Django."""
    client = page_client(user_id)
    period = f"from={start.isoformat()}&to={end.isoformat()}"
    out = []
    for name, url in (("page /cockpit/", f"/cockpit/?{period}"), ("page /cockpit/map/", f"/cockpit/map/?{period}")):
        ms = []
        for i in range(warmup + iterations):
            t = time.perf_counter()
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            if i >= warmup:
                ms.append((time.perf_counter() - t) * 1000)
        out.append((name, summary(ms)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--days", type=int, default=365, help="the period: the last N days")
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)

    url = args.database_url
    if args.cases != 10_000_000 and url == DEFAULT_URL:
        url = f"{DEFAULT_URL}_{args.cases}"  # each size keeps its own data for reuse
    prepare(url, args.cases, args.regenerate)
    from django.utils import timezone

    end = timezone.localdate()
    start = end - dt.timedelta(days=args.days - 1)
    log(f"period {start} – {end}; machine: {machine_load()}; {cpu_speed()}")
    worst, lines = 0.0, []
    for label, user_id, region in users():
        for name, fn in queries(region, start, end):
            s = time_query(user_id, fn, args.iterations, args.warmup)
            worst = max(worst, s["p95"])
            line = f"{label:40s} {name:28s} p50 {s['p50']:8.1f} ms  p95 {s['p95']:8.1f} ms  max {s['max']:8.1f} ms"
            lines.append(line)
            log(line)
    # The whole pages as a supervisor opens them (every figure above plus rendering): shown, not the goal.
    page_lines = []
    for label, user_id, _region in users():
        for name, s in time_pages(user_id, start, end, max(5, args.iterations // 3), 1):
            line = f"{label:40s} {name:28s} p50 {s['p50']:8.1f} ms  p95 {s['p95']:8.1f} ms  max {s['max']:8.1f} ms"
            page_lines.append(line)
            log(line)
    goal = f"goal p95 ≤ {GOAL_P95_MS:.0f} ms: {'met' if worst <= GOAL_P95_MS else 'MISSED'}"
    print(f"cockpit queries at {args.cases:,} cases ({args.iterations} runs each): worst p95 {worst:.1f} ms ({goal})")
    print("\n".join(lines))
    print("whole pages (not part of the goal):")
    print("\n".join(page_lines))
    if worst > GOAL_P95_MS:
        sys.exit(1)


if __name__ == "__main__":
    main()

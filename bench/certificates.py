"""Benchmark of electronic certificates: signatures, verification, issuance and the layout file.

Measured in this one process (one core): SM2 and Ed25519 signing and verification per second over
realistic signed heads (the canonical head bytes of generated certificates); the same verifications
through the offline verification path (QR text decoded, trusted-issuer list looked up); issuance
(serial, identifier, signature, rows) with the PDF rendered and stored, per second; and the PDF
render time (median, p95) per template, wall clock and CPU time (the goal is judged on CPU time:
on a shared machine the wall clock also counts the waits for a core). Goals: ≥ 1,500 SM2 verifications/s, PDF median ≤ 50 ms.

Data: its own small generator (a department, three certificate types, holders with valid ID numbers
and face data of realistic length) in a fresh database: SQLite in a temporary file by default,
`--database-url postgres://…/bench_certificates` for PostgreSQL (created on demand, dropped first).

    .venv/bin/python bench/certificates.py
    .venv/bin/python bench/certificates.py --database-url postgres://postgres@127.0.0.1:5432/bench_certificates
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from case_data import bench_environment, cpu_speed, ensure_database, id_number, log, machine_load, summary  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL_SM2_VERIFY = 1500.0
GOAL_PDF_MEDIAN_MS = 50.0
SCOPES = ["预包装食品销售（含冷藏冷冻食品）", "散装食品销售（含散装熟食）", "特殊食品销售（保健食品）", "热食类食品制售", "冷食类食品制售", "糕点类食品制售（含裱花蛋糕）"]
STREETS = ["十字路街道人民路", "文化路", "振兴路", "大店镇府前街", "坪上镇商贸街", "相沟镇沿河路"]


def setup(url, media):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(bench_environment(url))
    os.environ["TONGBAN_MEDIA_ROOT"] = str(media)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MEDIA_ROOT = str(media)
    call_command("migrate", verbosity=0)


def generate(rng):
    """A county, its market regulator, three types (one per template) and nothing issued yet."""
    from tongban.certificates.models import CertificateType
    from tongban.core.codes import make_uscc
    from tongban.directory.models import Department, Region

    root = Region.objects.create(code="000000", name="中华人民共和国", level="national", path="000000/")
    county = Region.objects.create(code="371327", name="莒南县", level="county", parent=root, path="000000/371327/")
    dept = Department.objects.create(name="莒南县市场监督管理局（基准测试）", region=county, credit_code=make_uscc("11", "371327", "BE000001"))
    ministry = make_uscc("11", "100000", "BE000002")
    fields = [{"key": "company_name", "label": "名称", "type": "text", "required": True},
              {"key": "legal_representative", "label": "法定代表人", "type": "text", "required": True},
              {"key": "business_address", "label": "经营场所", "type": "text", "required": True},
              {"key": "business_scope", "label": "经营项目", "type": "text", "required": True},
              {"key": "registered_capital", "label": "注册资本（万元）", "type": "number"},
              {"key": "founded_on", "label": "成立日期", "type": "date"}]
    types = []
    for n, template in enumerate(("licence", "certificate", "proof"), 1):
        t = CertificateType.objects.create(code=f"{ministry}{n:03d}", name={"licence": "营业执照", "certificate": "食品经营许可证",
                                                                         "proof": "经营状况证明"}[template],
                                           ministry_name="国家市场监督管理总局（基准测试）", region=root, holder_kind="both", fields=fields,
                                           validity_years=5, template=template)
        t.issuing_departments.add(dept)
        types.append(t)
    return dept, types


def face(rng, i):
    return {"company_name": f"莒南县{rng.choice(['鑫源', '华泰', '瑞丰', '金鼎', '福润'])}食品有限公司{i}", "legal_representative": rng.choice(["张晓明", "李红", "王建国", "赵丽"]),
            "business_address": f"山东省临沂市莒南县{rng.choice(STREETS)}{rng.randint(1, 300)}号",
            "business_scope": "、".join(rng.sample(SCOPES, rng.randint(2, 5))), "registered_capital": str(rng.randint(10, 5000)),
            "founded_on": f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}


def holder(i):
    return {"name": f"持证人{i}", "code": id_number(i), "code_type": "公民身份号码", "applicant": None}


def heads(dept, ctype, algorithm, n, rng):
    """(head bytes) of n unsaved certificates signed by nobody yet: the bytes a verifier checks."""
    import datetime

    from tongban.certificates import identifiers
    from tongban.certificates.models import Certificate

    out = []
    for i in range(n):
        serial = f"2026{i + 1:08d}"
        c = Certificate(identifier=identifiers.make(ctype.code, dept.credit_code, serial, 1), type=ctype, serial=serial, version=1,
                        number=f"371327{serial}", holder_name=f"持证人{i}", holder_code=id_number(i), holder_code_type="公民身份号码",
                        issuer=dept, issuer_name=dept.name, issuer_code=dept.credit_code, region_path=dept.region.path, jurisdiction="371327",
                        issued_on=datetime.date(2026, 1, 5), valid_from=datetime.date(2026, 1, 5), valid_until=datetime.date(2031, 1, 4),
                        data=face(rng, i), algorithm=algorithm, key_id=f"{algorithm}-0123456789abcdef")
        out.append(c)
    return out


def rate(n, fn):
    """Operations per second of CPU time (the process runs on one core)."""
    start = time.process_time()
    fn()
    return n / max(time.process_time() - start, 1e-9)


def crypto(dept, ctype, n, rng):
    from django.conf import settings

    from tongban.certificates import canonical, keys, offline, qr
    from tongban.certificates.models import IssuerKey
    from tongban.exchange.signing import verify

    results = {}
    for algorithm in ("sm2", "ed25519"):
        settings.TONGBAN_CERT_SIGNING = algorithm
        keys.rotate(dept, None)  # a fresh active key of this algorithm
        signer = keys.signer_for(dept)
        certs = heads(dept, ctype, algorithm, n, rng)
        for c in certs:
            c.key_id = signer.key_id
        blobs = [canonical.head_bytes(canonical.head(c)) for c in certs]
        sigs, ok, verdicts = [], [], []

        def sign_all(signer=signer, blobs=blobs, sigs=sigs):
            sigs.extend(signer.sign(b) for b in blobs)

        def verify_all(algorithm=algorithm, pub=signer.public_key, blobs=blobs, sigs=sigs, ok=ok):
            ok.extend(verify(algorithm, pub, b, s) for b, s in zip(blobs, sigs))

        results[f"{algorithm} sign/s"] = rate(n, sign_all)
        results[f"{algorithm} verify/s"] = rate(n, verify_all)
        assert all(ok), "a signature did not verify"
        # the offline path: QR text decoded, key found in the trusted-issuer list, signature checked
        key = IssuerKey.objects.get(key_id=signer.key_id)
        doc = {"issuers": [{"credit_code": dept.credit_code, "department": dept.name, "keys": [
            {"key_id": key.key_id, "algorithm": key.algorithm, "public_key": key.public_key, "status": "active"}]}], "revoked_keys": []}
        texts = [qr.encode(b, s) for b, s in zip(blobs, sigs)]

        def verify_offline_all(texts=texts, doc=doc, verdicts=verdicts):
            verdicts.extend(offline.verify_offline(t, doc)["status"] for t in texts)

        results[f"{algorithm} offline verify/s"] = rate(n, verify_offline_all)
        assert set(verdicts) == {"valid"}, set(verdicts)
    settings.TONGBAN_CERT_SIGNING = "sm2"
    return results


def issuance(dept, types, n, rng):
    """Issue n certificates (round robin over the templates) with their PDF rendered and stored."""
    from django.conf import settings

    from tongban.certificates import issuing, keys, rendering

    settings.TONGBAN_CERT_SIGNING = "sm2"
    keys.rotate(dept, None)
    render_ms = {t.template: [] for t in types}
    render_cpu_ms, issue_ms = [], []
    start = time.perf_counter()
    for i in range(n):
        ctype = types[i % len(types)]
        t0 = time.perf_counter()
        cert = issuing.issue(ctype, dept, holder(10_000 + i), face(rng, i), source="import")
        t1, c1 = time.perf_counter(), time.thread_time()
        pdf = rendering.render_pdf(cert)
        t2, c2 = time.perf_counter(), time.thread_time()
        render_cpu_ms.append((c2 - c1) * 1000)
        rendering.pdf_blob(cert)
        issue_ms.append((t1 - t0) * 1000)
        render_ms[ctype.template].append((t2 - t1) * 1000)
        assert pdf.startswith(b"%PDF-")
    elapsed = time.perf_counter() - start
    return (n / elapsed, summary(issue_ms), {k: summary(v) for k, v in render_ms.items()}, summary([m for v in render_ms.values() for m in v]),
            summary(render_cpu_ms))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in a temporary file)")
    parser.add_argument("--signatures", type=int, default=3000, help="signatures and verifications per algorithm")
    parser.add_argument("--certificates", type=int, default=150, help="certificates issued with their PDF")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="bench-certificates-")
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    if args.database_url:
        ensure_database(url, drop=True)
    setup(url, Path(tmp.name) / "media")
    from django.db import connection

    from tongban.exchange.signing import sm2_backend

    log(f"database: {connection.vendor}; machine: {machine_load()}; {cpu_speed()}; SM2 verification by {sm2_backend()}")
    dept, types = generate(rng)
    figures = crypto(dept, types[0], args.signatures, rng)
    per_second, issue_s, per_template, render_all, render_cpu = issuance(dept, types, args.certificates, rng)

    lines = [f"{name:28s} {value:10,.0f}" for name, value in figures.items()]
    lines.append(f"{'issuance + PDF /s':28s} {per_second:10,.1f}   (issue alone p50 {issue_s['p50']:.1f} ms, p95 {issue_s['p95']:.1f} ms)")
    for template, s in per_template.items():
        lines.append(f"{'PDF render ' + template:28s} p50 {s['p50']:6.1f} ms  p95 {s['p95']:6.1f} ms  (n={s['n']})")
    lines.append(f"{'PDF render (all, wall)':28s} p50 {render_all['p50']:6.1f} ms  p95 {render_all['p95']:6.1f} ms")
    lines.append(f"{'PDF render (all, CPU)':28s} p50 {render_cpu['p50']:6.1f} ms  p95 {render_cpu['p95']:6.1f} ms")
    sm2_ok = figures["sm2 verify/s"] >= GOAL_SM2_VERIFY
    # Judged on CPU time: on a shared machine the wall time also counts the waits for a core.
    pdf_ok = render_cpu["p50"] <= GOAL_PDF_MEDIAN_MS
    print(f"certificates on {connection.vendor} ({args.signatures} signatures per algorithm, {args.certificates} certificates): "
          f"SM2 verify goal ≥ {GOAL_SM2_VERIFY:,.0f}/s {'met' if sm2_ok else 'MISSED'}; PDF median goal ≤ {GOAL_PDF_MEDIAN_MS:.0f} ms {'met' if pdf_ok else 'MISSED'}")
    print("\n".join(lines))
    tmp.cleanup()
    if not (sm2_ok and pdf_ok):
        sys.exit(1)


if __name__ == "__main__":
    main()

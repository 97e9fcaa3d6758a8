"""load_demo(): the demo data set, clearly marked 演示数据, on the real divisions.

Idempotent: every object is looked up by its natural key (basic code, region + name, implementation
code, username …) and only created when missing; nothing that exists is rewritten, so a second run
changes nothing. Everything happens in one transaction and passes full_clean(); files written to the
default storage are removed again if the transaction fails.
"""

import csv
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tongban.catalog.models import Implementation, Item, ItemVersion, ListEntry, Material, TongbanList
from tongban.core import audit
from tongban.directory.models import ROOT_CODE, Department, Hall, Membership, Region, Window

from . import bundles, cooperation, documents, guides
from .items import ITEMS
from .lists import LISTS, NATIONAL_BATCH, SHANDONG_RESPONSIBLE
from .places import HALLS, PASSWORD, PLACES, REGIONAL, STAFF, UNITS, credit_code

DEMO_NOTE = "演示数据"
LABELS = {
    "base_records": "基础数据",
    "data_services": "共享数据服务",
    "share_demands": "共享需求",
    "share_grants": "共享授权",
    "items": "事项",
    "versions": "办事指南",
    "materials": "申请材料",
    "departments": "部门",
    "halls": "大厅",
    "windows": "窗口",
    "implementations": "实施清单",
    "lists": "通办清单",
    "list_entries": "清单条目",
    "accounts": "演示账号",
    "memberships": "人员角色",
    "totp_devices": "动态口令设备",
    "window_queues": "窗口叫号队列",
    "queue_tickets": "叫号票",
}
KUASHENG_CSV = Path(__file__).resolve().parent.parent / "catalog" / "data" / "kuasheng_tongban_items.csv"


def ensure_reference_data():
    """Divisions, history codes and the holiday calendar, loaded only when missing."""
    from tongban.core import workdays
    from tongban.core.models import HolidayYear
    from tongban.core.services import seed_holidays_from_chinesecalendar
    from tongban.directory import services

    loaded = []
    if not Region.objects.filter(level=Region.TOWNSHIP).exists():
        services.load_divisions()
        services.load_history()
        services.reset_caches()
        loaded.append("divisions")
    if not HolidayYear.objects.exists():
        seed_holidays_from_chinesecalendar()
        workdays.invalidate()
        loaded.append("holidays")
    return loaded


def load_demo():
    """Load (or complete) the demo data set; returns a summary with counts and the demo accounts."""
    started = time.monotonic()
    ensure_reference_data()
    loader = _Loader()
    try:
        with transaction.atomic():
            loader.run()
    except BaseException:
        loader.discard_files()
        raise
    summary = loader.summary()
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def kuasheng_rows():
    with open(KUASHENG_CSV, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class _Loader:
    def __init__(self):
        self.created = Counter()
        self.files = []
        self.now = timezone.now()

    # --- helpers ------------------------------------------------------------------------------

    def _save_file(self, field_file, name, content):
        field_file.save(name, ContentFile(content), save=False)
        self.files.append(field_file.name)

    def discard_files(self):
        for name in self.files:
            try:
                default_storage.delete(name)
            except OSError:
                pass

    def run(self):
        self.regions = self._regions()
        self.items = self._items()
        self._versions()
        self.departments = self._departments()
        self.halls = self._halls()
        self._windows()
        self.plan = self._implementations()
        self._lists()
        self.accounts = self._staff()
        cooperation.load_cooperation(self.created)
        self.accounts += bundles.load_bundles(self.created)  # 一件事 (after the staff: published by demo_catalog)
        from tongban.queueing.demo import load_queue_demo  # after the demo bundles: tickets name them

        load_queue_demo(self.created)
        from tongban.certificates.demo import load_certificate_demo  # after the items and staff they name
        from tongban.sharing.demo import load_sharing_demo  # after the certificate types it serves

        self.accounts += load_certificate_demo(self.created)
        self.accounts += load_sharing_demo(self.created)
        if self.created:
            summary = "载入演示数据：" + "，".join(f"{LABELS.get(k, k)}{v}" for k, v in self.created.items())
            audit.record(None, "demo.load", summary=summary, data=dict(self.created), object_type="demo", object_id="demo")

    # --- regions ------------------------------------------------------------------------------

    def _regions(self):
        codes = {
            ROOT_CODE,
            *(u["region"] for u in UNITS),
            *(h["region"] for h in HALLS if h["region"]),
            *(s["region"] for s in STAFF),
            *(lst["region"] for lst in LISTS),
        }
        codes.update(p for lst in LISTS for p in lst["partners"])
        codes.update(p for r in REGIONAL.values() for p in r["partners"])
        regions = {r.code: r for r in Region.objects.filter(code__in=codes)}
        missing = codes - set(regions)
        if missing:
            raise LookupError(f"行政区划缺失：{'、'.join(sorted(missing))}（请先运行 load_divisions）")
        unit_region = {u["key"]: u["region"] for u in UNITS}
        wanted = {(unit_region[h["unit"]], h["township"]) for h in HALLS if h["township"]}
        found = Region.objects.filter(level=Region.TOWNSHIP, parent__code__in={p for p, _ in wanted}, name__in={n for _, n in wanted})
        self.townships = {(r.parent.code, r.name): r for r in found.select_related("parent")}
        if wanted - set(self.townships):
            raise LookupError(f"乡镇（街道）缺失：{sorted(wanted - set(self.townships))}")
        return regions

    # --- items, versions, materials -----------------------------------------------------------

    def _items(self):
        existing = {i.basic_code: i for i in Item.objects.filter(basic_code__in=[s["basic_code"] for s in ITEMS])}
        root = self.regions[ROOT_CODE]
        items = {}
        for spec in ITEMS:
            obj = existing.get(spec["basic_code"])
            if obj is None:
                obj = Item(
                    basic_code=spec["basic_code"],
                    name=spec["name"],
                    item_type=spec["item_type"],
                    region=root,
                    competent_authority=spec["authority"],
                    category=spec["category"],
                )
                obj.full_clean()
                obj.save()
                self.created["items"] += 1
            items[spec["key"]] = obj
        return items

    def _versions(self):
        with_versions = set(ItemVersion.objects.filter(item__in=self.items.values()).values_list("item_id", flat=True))
        materials = []
        for spec in ITEMS:
            item = self.items[spec["key"]]
            if item.pk in with_versions:
                continue
            version = self._version(spec, item)
            for seq, m in enumerate(spec["materials"], 1):
                materials.append(self._material(spec, version, seq, m))
        for m in materials:
            m.full_clean()
        Material.objects.bulk_create(materials)
        self.created["materials"] += len(materials)

    def _version(self, spec, item):
        v = ItemVersion(
            item=item,
            version_no=1,
            change_note=DEMO_NOTE,
            name=spec["name"],
            service_objects=spec["objects"],
            business_category=spec["business_category"],
            handling_level=spec["handling_level"],
            conditions=spec["conditions"],
            application_methods=guides.application_methods(spec),
            acceptance_mode=guides.acceptance_mode(spec),
            review_procedure=guides.review_procedure(spec),
            process_description=guides.process_description(spec),
            prerequisites=spec["prerequisites"],
            formal_review_points=spec["review_points"],
            statutory_limit_days=spec["statutory"],
            statutory_limit_note=spec["statutory_note"],
            promised_limit_days=spec["promised"],
            promised_limit_note=spec["promised_note"] or "以办理地公布的承诺时限为准（演示）",
            certificate_method=spec["certificate_method"],
            fee_standard=spec["fee"],
            fee_basis=spec["fee_basis"] or "不收费",
            legal_basis=spec["legal_basis"],
            case_kind=spec["case_kind"],
            power_source=spec["power_source"],
            consult_method=guides.consult_method(spec),
            complaint_method=guides.complaint_method(spec),
            special_procedures=spec["special"],
            result_name=spec["result_name"],
            result_type=spec["result_type"],
            online_depth=spec["online_depth"],
            supports_appointment=spec["appointment"],
            supports_express=spec["express"],
            supports_online_payment=spec["payment"],
            supports_self_service=spec["self_service"],
            joint_agencies=spec["joint_agencies"],
            intermediary_services=spec["intermediary"],
        )
        v.status, v.published_at = ItemVersion.PUBLISHED, self.now
        pdf = documents.result_sample_pdf(
            result_name=spec["result_name"],
            item_name=spec["name"],
            basic_code=spec["basic_code"],
            lines=guides.result_lines(spec),
            issuer="××市××局（演示）",
        )
        self._save_file(v.result_sample, f"{spec['basic_code']}-result-sample.pdf", pdf)
        v.full_clean()
        v.save()
        self.created["versions"] += 1
        return v

    def _material(self, spec, version, seq, m):
        fields = {k: v for k, v in m.items() if k != "template"}
        if not fields["basis"]:
            fields["basis"] = spec["legal_basis"].split("；")[0]
        obj = Material(version=version, seq=seq, **fields)
        if m["template"]:
            title, rows = spec["form"]
            common = {
                "title": title,
                "item_name": spec["name"],
                "basic_code": spec["basic_code"],
                "fields": rows,
                "instructions": guides.form_instructions(spec),
            }
            self._save_file(obj.blank_form, f"{spec['basic_code']}-{seq}-blank.xlsx", documents.application_xlsx(sample=False, **common))
            self._save_file(obj.sample, f"{spec['basic_code']}-{seq}-sample.xlsx", documents.application_xlsx(sample=True, **common))
        return obj

    # --- departments, halls, windows ----------------------------------------------------------

    def _departments(self):
        unit_regions = [self.regions[u["region"]] for u in UNITS]
        existing = {(d.region_id, d.name): d for d in Department.objects.filter(region__in=unit_regions).select_related("region")}
        by_unit_key = {}
        for unit in UNITS:
            region = self.regions[unit["region"]]
            for n, spec in enumerate(unit["departments"], 1):
                obj = existing.get((region.pk, spec["name"]))
                if obj is None:
                    obj = Department(
                        name=spec["name"],
                        short_name=spec["short"],
                        region=region,
                        credit_code=credit_code(spec["kind"], region.code, spec["name"]),
                        phone=f"{unit['area']}-1235{n:04d}",
                    )
                    obj.full_clean()
                    obj.save()
                    existing[(region.pk, obj.name)] = obj
                    self.created["departments"] += 1
                for key in spec["keys"]:
                    by_unit_key[(unit["key"], key)] = obj
        return by_unit_key

    def _hall_region(self, spec):
        if spec["township"]:
            unit_region = next(u["region"] for u in UNITS if u["key"] == spec["unit"])
            return self.townships[(unit_region, spec["township"])]
        return self.regions.get(spec["region"]) or Region.objects.get(code=spec["region"])

    def _halls(self):
        halls = []
        specs = [(spec, self._hall_region(spec)) for spec in HALLS]
        existing = {(h.region_id, h.name): h for h in Hall.objects.filter(region__in={r for _, r in specs})}
        for spec, region in specs:
            obj = existing.get((region.pk, spec["name"]))
            if obj is None:
                obj = Hall(
                    name=spec["name"],
                    kind=spec["kind"],
                    region=region,
                    address=spec["address"],
                    opening_hours=spec["hours"],
                    phone=spec["phone"],
                    department=self.departments[(spec["unit"], spec["dept_key"])] if spec["dept_key"] else None,
                )
                obj.full_clean()
                obj.save()
                self.created["halls"] += 1
            halls.append((spec, obj))
        return halls

    def _windows(self):
        existing = set(Window.objects.filter(hall__in=[h for _, h in self.halls]).values_list("hall_id", "number"))
        new = []
        for spec, hall in self.halls:
            for number, name, kind in spec["windows"]:
                if (hall.pk, number) not in existing:
                    w = Window(hall=hall, number=number, name=name, kind=kind)
                    w.full_clean()
                    new.append(w)
        Window.objects.bulk_create(new)
        self.created["windows"] += len(new)

    # --- implementations ----------------------------------------------------------------------

    def _dept_for(self, unit, spec):
        for key in spec["dept"]:
            dept = self.departments.get((unit["key"], key))
            if dept is not None:
                return key, dept
        return None

    def _plan(self):
        """(place, unit, item spec, department key, department) for every demo implementation."""
        by_place = defaultdict(list)
        for unit in UNITS:
            by_place[unit["place"]].append(unit)
        plan = []
        for place, units in by_place.items():
            county = [u for u in units if u["role"] in ("county", "both")]
            city = [u for u in units if u["role"] in ("city", "both")]
            for spec in ITEMS:
                primary, fallback = (county, city) if spec["tier"] == "county" else (city, [])
                hits = [(u, hit) for u in primary if (hit := self._dept_for(u, spec))]
                if not hits:
                    hits = [(u, hit) for u in fallback if (hit := self._dept_for(u, spec))]
                plan.extend((place, u, spec, key, dept) for u, (key, dept) in hits)
        return plan

    def _halls_for(self, unit, spec, dept):
        out = []
        for hall_spec, hall in self.halls:
            if hall_spec["unit"] != unit["key"]:
                continue
            if hall.kind in (Hall.CITY_HALL, Hall.COUNTY_HALL, Hall.PROVINCE_HALL):
                out.append(hall)
            elif hall.kind == Hall.SUB_HALL and hall.department_id == dept.pk:
                out.append(hall)
            elif hall.kind in (Hall.TOWNSHIP_CENTRE, Hall.VILLAGE_STATION) and spec["grassroots"]:
                out.append(hall)
        return out

    def _implementations(self):
        plan = self._plan()
        codes = [f"{dept.credit_code}{unit['level']}{spec['basic_code']}" for _, unit, spec, _, dept in plan]
        existing = set(Implementation.objects.filter(implementation_code__in=codes).values_list("implementation_code", flat=True))
        new, links = [], {}
        for (place, unit, spec, _key, dept), code in zip(plan, codes, strict=True):
            if code in existing:
                continue
            scopes = ["cross_province"] if spec["kuasheng"] else []
            scopes += [s for s in PLACES[place]["scopes"] if s not in scopes]
            regional = REGIONAL.get(place)
            partners = []
            if regional and spec["key"] in regional["items"]:
                scopes.append("regional")
                partners = [self.regions[c] for c in regional["partners"]]
            promised = spec["promised"] if spec["promised"] <= 1 else max(1, spec["promised"] - PLACES[place]["promise_cut"])
            impl = Implementation(
                item=self.items[spec["key"]],
                department=dept,
                region=self.regions[unit["region"]],
                level=unit["level"],
                implementation_code=code,
                statutory_limit_days=spec["statutory"],
                promised_limit_days=promised,
                fee_amount=Decimal(spec["fee_amount"]),
                fee_note=spec["fee"][:300],
                delivery_methods=list(spec["delivery"]),
                visits_needed=0 if "online" in spec["modes"] and not spec["presence"] else 1,
                presence_required=bool(spec["presence"]),
                presence_basis=spec["presence"][:300],
                modes=list(spec["modes"]),
                scopes=scopes,
            )
            impl.full_clean()
            new.append(impl)
            links[code] = (self._halls_for(unit, spec, dept), partners)
        Implementation.objects.bulk_create(new)
        self.created["implementations"] += len(new)
        if new:
            ids = dict(Implementation.objects.filter(implementation_code__in=list(links)).values_list("implementation_code", "id"))
            HallLink, PartnerLink = Implementation.halls.through, Implementation.partner_regions.through
            HallLink.objects.bulk_create(
                [HallLink(implementation_id=ids[c], hall_id=h.pk) for c, (halls, _) in links.items() for h in halls], ignore_conflicts=True
            )
            PartnerLink.objects.bulk_create(
                [PartnerLink(implementation_id=ids[c], region_id=r.pk) for c, (_, partners) in links.items() for r in partners],
                ignore_conflicts=True,
            )
        self.implementation_codes = codes
        return plan

    # --- 通办 lists ---------------------------------------------------------------------------

    def _place_rows(self, places, within, only_kuasheng=False, responsible=None):
        """One row per item implemented in `places` by departments within the list's region: the city-level
        department (else the first) is responsible."""
        grouped = {}
        for place, unit, spec, key, dept in self.plan:
            if place not in places or (only_kuasheng and not spec["kuasheng"]) or not dept.region.is_within(within):
                continue
            grouped.setdefault(spec["key"], []).append((unit, key, dept))
        rows = []
        for spec in ITEMS:
            hits = grouped.get(spec["key"])
            if not hits:
                continue
            hits.sort(key=lambda h: (h[0]["level"], h[2].name))
            _unit, key, dept = hits[0]
            names = "、".join(dict.fromkeys(h[2].name for h in hits))
            if responsible is not None:
                rows.append({"spec": spec, "dept": None, "dept_name": responsible.get(key, "")})
            else:
                rows.append({"spec": spec, "dept": dept, "dept_name": names})
        return rows

    def _list_rows(self, definition):
        source, within = definition["entries"], self.regions[definition["region"]]
        if source == "kuasheng":
            by_seq = {s["kuasheng"]: s for s in ITEMS if s["kuasheng"]}
            rows = []
            for r in kuasheng_rows():
                spec = by_seq[int(r["seq"])]
                inferred = "(inferred)" in r["department"]
                batch, deadline = NATIONAL_BATCH.get(r["batch"], ("未公布批次", None))
                rows.append(
                    {
                        "spec": spec,
                        "dept": None,
                        "dept_name": r["department"].replace("(inferred)", "").strip(),
                        "batch": batch,
                        "deadline": deadline,
                        "note": "责任部门依据事项主题推断（演示）" if inferred else "演示数据",
                    }
                )
            return rows
        kind, _, rest = source.partition(":")
        if kind == "place":
            place, _, flag = rest.partition(":")
            return self._place_rows({place}, within, only_kuasheng=flag == "kuasheng")
        if kind == "province":
            return self._place_rows(set(rest.split(",")), within, responsible=SHANDONG_RESPONSIBLE)
        if kind == "items":
            places = set(rest.split(","))
            wanted = set().union(*(REGIONAL[p]["items"] for p in places))
            return [r for r in self._place_rows(places, within) if r["spec"]["key"] in wanted]
        raise ValueError(f"unknown list source {source}")

    def _lists(self):
        for definition in LISTS:
            region = self.regions[definition["region"]]
            lst = TongbanList.objects.filter(region=region, name=definition["name"]).first()
            if lst is None:
                lst = TongbanList(
                    name=definition["name"],
                    scope=definition["scope"],
                    region=region,
                    document_no=definition["document_no"],
                    issued_on=definition["issued_on"],
                    description=definition["description"],
                )
                lst.full_clean()
                lst.save()
                lst.partner_regions.set([self.regions[c] for c in definition["partners"]])
                self.created["lists"] += 1
            existing = set(lst.entries.values_list("item_name", flat=True))
            new = []
            for seq, row in enumerate(self._list_rows(definition), 1):
                spec = row["spec"]
                if spec["name"] in existing:
                    continue
                status = ListEntry.IMPLEMENTED
                if definition["scope"] == "city_wide" and "joint" in spec["modes"]:
                    status = ListEntry.IN_PROGRESS
                entry = ListEntry(
                    tongban_list=lst,
                    seq=seq,
                    item_name=spec["name"],
                    item=self.items[spec["key"]],
                    responsible_department=row["dept"],
                    responsible_department_name=row["dept_name"][:200],
                    modes=list(spec["modes"]),
                    batch=row.get("batch", definition.get("batch", "")),
                    deadline=row.get("deadline", definition.get("deadline")),
                    status=status,
                    note=row.get("note", DEMO_NOTE),
                )
                entry.full_clean()
                new.append(entry)
            ListEntry.objects.bulk_create(new)
            self.created["list_entries"] += len(new)

    # --- staff --------------------------------------------------------------------------------

    def _staff(self):
        User = get_user_model()
        password_hash = None  # one PBKDF2 run (~1 s) for all demo accounts: they share the documented password
        windows = {(w.hall.name, w.number): w for w in Window.objects.filter(hall__in=[h for _, h in self.halls]).select_related("hall")}
        departments = {d.name: d for d in self.departments.values()}
        accounts = []
        for spec in STAFF:
            user = User.objects.filter(username=spec["username"]).first()
            if user is None:
                user = User(username=spec["username"], first_name=spec["name"], is_staff=True, is_active=True)
                password_hash = password_hash or make_password(PASSWORD)
                user.password = password_hash
                user.full_clean()
                user.save()
                self.created["accounts"] += 1
            region = self.regions[spec["region"]]
            department = departments[spec["department"]] if spec["department"] else None
            window = windows[spec["window"]] if spec["window"] else None
            membership = Membership.objects.filter(user=user, role=spec["role"], region=region, department=department).first()
            if membership is None:
                membership = Membership(user=user, role=spec["role"], region=region, department=department, window=window)
                membership.full_clean()
                membership.save()
                self.created["memberships"] += 1
            if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                device = TOTPDevice(user=user, name="演示动态口令", confirmed=True)
                device.full_clean()
                device.save()
                self.created["totp_devices"] += 1
            accounts.append(
                {
                    "username": user.username,
                    "name": user.get_full_name(),
                    "role": spec["role"],
                    "role_label": dict(Membership.ROLE_CHOICES)[spec["role"]],
                    "region": region.full_name() or region.name,
                    "department": department.name if department else "",
                    "window": str(window) if window else "",
                    "password": PASSWORD,
                }
            )
        return accounts

    # --- summary ------------------------------------------------------------------------------

    def summary(self):
        items = Item.objects.filter(basic_code__in=[s["basic_code"] for s in ITEMS])
        departments = {d.pk for d in self.departments.values()}
        halls = [h.pk for _, h in self.halls]
        lists = TongbanList.objects.filter(name__in=[d["name"] for d in LISTS])
        return {
            "items": items.count(),
            "versions": ItemVersion.objects.filter(item__in=items, status=ItemVersion.PUBLISHED).count(),
            "materials": Material.objects.filter(version__item__in=items, version__status=ItemVersion.PUBLISHED).count(),
            "template_files": Material.objects.filter(version__item__in=items).exclude(blank_form="").count() * 2,
            "departments": len(departments),
            "halls": len(halls),
            "windows": Window.objects.filter(hall_id__in=halls).count(),
            "implementations": Implementation.objects.filter(implementation_code__in=self.implementation_codes).count(),
            "places": len(PLACES),
            "lists": lists.count(),
            "list_entries": ListEntry.objects.filter(tongban_list__in=lists).count(),
            "accounts": self.accounts,
            "created": {k: v for k, v in self.created.items() if v},
            "bundled_items": [s["name"] for s in ITEMS if s["bundles"]],
        }

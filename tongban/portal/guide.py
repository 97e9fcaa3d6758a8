"""The guide page's sections: every guide field of the published version, grouped the way applicants read a
办事指南. Each row names the ItemVersion field it shows, so a test can prove no field is left out."""

from dataclasses import dataclass, field

from django.urls import reverse

from tongban.catalog.choices import MODES

# ItemVersion fields that describe the version itself rather than the service.
NON_GUIDE_FIELDS = {
    "id",
    "item",
    "version_no",
    "status",
    "based_on",
    "change_note",
    "created_by",
    "created_at",
    "published_at",
    "retired_at",
}
MODE_HELP = {
    "online": "网上申请、受理、审查、决定和送达，不用到现场",
    "proxy": "就近到跨域通办专窗提交，窗口核验后转交办理地部门（收受分离）",
    "joint": "只到一地提交，多地部门内部协同、共享材料，一次办结",
}
NONE = "无"


@dataclass
class Row:
    label: str
    value: object
    field: str = ""  # the ItemVersion field shown, if any
    kind: str = "text"  # text | list | file
    secondary: bool = False  # hidden in elder mode (codes and classification details)
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    rows: list = field(default_factory=list)
    ways: list = field(default_factory=list)  # "ways": per implementation, its modes and where to apply


def _text(value):
    value = (value or "").strip() if isinstance(value, str) else value
    return value if value not in ("", None) else NONE


def _yes_no(value):
    return "是" if value else "否"


def _days(n):
    return "即时办结" if n == 0 else f"{n} 个工作日"


def build_sections(guide):
    impl, v, item = guide.implementation, guide.version, guide.implementation.item
    published = f"第 {v.version_no} 版" + (f"，{v.published_at:%Y年%m月%d日}发布" if v.published_at else "")
    statutory_note = f"事项指南规定：{_days(v.statutory_limit_days)}" if v.statutory_limit_days != impl.statutory_limit_days else ""
    promised_note = f"事项指南规定：{_days(v.promised_limit_days)}" if v.promised_limit_days != impl.promised_limit_days else ""
    fee_amount = "不收费" if not impl.fee_amount else f"{impl.fee_amount} 元"
    result_sample = reverse("portal:result-sample", args=[impl.implementation_code]) if v.result_sample else None
    modes = [f"{label}：{MODE_HELP[key]}" for key, label in MODES if key in impl.get_modes_names()]
    presence = _yes_no(impl.presence_required) + (
        f"（依据：{impl.presence_basis}）" if impl.presence_required and impl.presence_basis else ""
    )
    return [
        Section(
            "basic",
            "基本信息",
            [
                Row("事项名称", v.name, "name"),
                Row("实施主体", impl.department.name),
                Row("实施区划", guide.region_name),
                Row("服务对象", "、".join(guide.applicant_types) or NONE, "service_objects"),
                Row("服务对象分类", _text(item.category), secondary=True),
                Row("事项类型", item.get_item_type_display()),
                Row("办件类型", v.get_case_kind_display(), "case_kind"),
                Row("业务分类", _text(v.business_category), "business_category", secondary=True),
                Row("办理层级", _text(v.handling_level), "handling_level", secondary=True),
                Row("行使层级", impl.get_level_display(), secondary=True),
                Row("权力来源", v.get_power_source_display(), "power_source", secondary=True),
                Row("主管部门", _text(item.competent_authority), secondary=True),
                Row("基本编码", item.basic_code, secondary=True),
                Row("实施编码", impl.implementation_code, secondary=True),
                Row("业务办理项编码", _text(impl.business_code), secondary=True),
                Row("指南版本", published, secondary=True),
            ],
        ),
        Section(
            "conditions",
            "申请条件",
            [
                Row("申请条件", _text(v.conditions), "conditions"),
                Row("前置环节", _text(v.prerequisites), "prerequisites"),
                Row("中介服务", _text(v.intermediary_services), "intermediary_services"),
            ],
        ),
        Section("materials", "申请材料"),
        Section(
            "process",
            "办理流程与审核程序",
            [
                Row("申报方式", _text(v.application_methods), "application_methods"),
                Row("受理模式", _text(v.acceptance_mode), "acceptance_mode"),
                Row("办理流程", _text(v.process_description), "process_description"),
                Row("审核程序", _text(v.review_procedure), "review_procedure"),
                Row("形式审查要点", _text(v.formal_review_points), "formal_review_points"),
                Row("网上办理深度", _text(v.online_depth), "online_depth"),
                Row("支持预约", _yes_no(v.supports_appointment), "supports_appointment"),
                Row("支持自助终端", _yes_no(v.supports_self_service), "supports_self_service"),
            ],
        ),
        Section(
            "limits",
            "办理时限",
            [
                Row("法定办结时限", _days(impl.statutory_limit_days), "statutory_limit_days", note=statutory_note),
                Row("法定时限说明", _text(v.statutory_limit_note), "statutory_limit_note"),
                Row("承诺办结时限", _days(impl.promised_limit_days), "promised_limit_days", note=promised_note),
                Row("承诺时限说明", _text(v.promised_limit_note), "promised_limit_note"),
            ],
        ),
        Section(
            "fees",
            "收费",
            [
                Row("收费标准", _text(v.fee_standard), "fee_standard"),
                Row("收费金额", fee_amount),
                Row("收费说明", _text(impl.fee_note)),
                Row("收费依据", _text(v.fee_basis), "fee_basis"),
                Row("支持网上支付", _yes_no(v.supports_online_payment), "supports_online_payment"),
            ],
        ),
        Section(
            "places",
            "办理地点",
            [
                Row("到办事现场次数", f"{impl.visits_needed} 次" + ("（全程不用跑）" if impl.visits_needed == 0 else "")),
                Row("法律要求本人到场", presence),
            ],
        ),
        Section(
            "tongban",
            "通办范围与模式",
            [
                Row("通办范围", impl.get_scopes_labels() or [NONE], kind="list"),
                Row("业务模式", modes or [NONE], kind="list"),
                Row("区域通办合作地区", [r.name for r in guide.partner_regions] or [NONE], kind="list"),
                Row("联办机构", _text(v.joint_agencies), "joint_agencies"),
            ],
        ),
        Section("ways", "通办方式与可办理地点", ways=_ways(guide)),
        Section(
            "delivery",
            "送达方式",
            [
                Row("送达方式", impl.get_delivery_methods_labels() or [NONE], kind="list"),
                Row("发证方式", _text(v.certificate_method), "certificate_method"),
                Row("支持物流快递", _yes_no(v.supports_express), "supports_express"),
            ],
        ),
        Section(
            "result",
            "审批结果",
            [
                Row("审批结果名称", _text(v.result_name), "result_name"),
                Row("审批结果类型", _text(v.result_type), "result_type"),
                Row("电子证照", v.certificate_type.name if v.certificate_type_id else "不核发电子证照", "certificate_type"),
                Row("审批结果样本", result_sample or NONE, "result_sample", kind="file" if result_sample else "text"),
            ],
        ),
        Section("basis", "设定依据", [Row("设定依据", _text(v.legal_basis), "legal_basis")]),
        Section(
            "contact",
            "咨询与投诉",
            [
                Row("咨询方式", _text(v.consult_method), "consult_method"),
                Row("咨询电话", _text(impl.department.phone)),
                Row("监督投诉方式", _text(v.complaint_method), "complaint_method"),
            ],
        ),
        Section("special", "特别程序", [Row("特别程序", _text(v.special_procedures), "special_procedures")]),
    ]


def _ways(guide):
    """This implementation and the other places shown on the page, each with its modes and where it can be
    received (cooperation.receiving): agreements and ancestors are read once for all of them."""
    from tongban.cooperation.receiving import receivable_summaries

    impls = [guide.implementation, *guide.other_places]
    summaries = receivable_summaries(impls)
    out = []
    for impl in impls:
        current = impl.pk == guide.implementation.pk
        out.append({
            "current": current,
            "code": impl.implementation_code,
            "place": f"{guide.region_name if current else getattr(impl, 'region_full_name', impl.region.name)} · {impl.department.name}",
            "modes": impl.get_modes_labels(),
            "rows": summaries[impl.pk],
        })
    return out


def covered_fields(sections):
    return {row.field for s in sections for row in s.rows if row.field}

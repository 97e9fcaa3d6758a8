"""The guide (办事指南) text that is the same pattern for every demo item: how to apply, acceptance
mode, process, consultation and complaints. Item-specific facts come from items.py."""

from .materials import SAMPLE_COMPANY, SAMPLE_COMPANY_CODE

HOTLINES = {
    "hrss": "12333（人力资源社会保障服务热线）",
    "medicare": "12393（医疗保障服务热线）",
    "tax": "12366（纳税缴费服务热线）",
    "hpf": "12329（住房公积金服务热线）",
    "market": "12315（市场监管投诉举报热线）",
    "approval": "12345（演示）",
    "eco": "12369（生态环境举报热线）",
    "transport": "12328（交通运输服务监督热线）",
    "notary": "12348（公共法律服务热线）",
    "health": "12320（卫生健康热线）",
    "power": "95598（供电服务热线）",
    "police": "12345（演示）",
    "land": "12345（演示）",
}
SUPERVISION = {"police": "12389（公安机关举报投诉热线）", "tax": "12366（纳税缴费服务热线）", "market": "12315（市场监管投诉举报热线）"}

PORTALS = "国家政务服务平台“跨省通办”专区，或办理地政务服务网及移动端（爱山东、蒙速办、浙里办、粤省事/粤商通）"

STEP_TEXT = {
    "申请": "申请人通过网上或窗口提交申请；委托办理的同时提交授权委托书。",
    "受理": "收件窗口或业务属地部门对申请材料进行形式审查：材料齐全、符合法定形式的当场受理并出具受理凭证；"
    "材料不全的一次性告知需要补正的全部内容；不属于受理范围的出具不予受理通知书并说明理由。",
    "审核": "承办人员对申请材料的实质内容进行审查，提出审核意见。",
    "审查": "承办人员对申请材料进行审查，需要核实的依法核实，提出审查意见。",
    "核验": "通过数据共享或相关系统核验申请事项的真实性。",
    "核实": "工作人员查询档案和业务系统核实申请事项。",
    "审批": "审批人员根据审核意见作出准予或者不予办理的决定；不予办理的书面说明理由，并告知申请人依法申请行政复议或者提起行政诉讼的权利。",
    "核准": "登记机关作出准予登记或者不予登记的决定。",
    "决定": "作出准予许可或者不予许可的决定；不予许可的书面说明理由并告知救济途径。",
    "审定": "主管部门审定并作出决定。",
    "现场核查": "需要现场核查的，由两名以上工作人员实地核查并制作核查记录（特别程序，时间不计入办理时限）。",
    "现场勘查": "工作人员上门勘查现场，确定实施方案。",
    "残疾评定": "到指定评定机构进行评定（特别程序，时间不计入办理时限）。",
    "公示": "按规定公示审批结果（时间不计入办理时限）。",
    "制卡": "制作卡片后发放。",
    "制证": "制作证照并加盖电子印章。",
    "出证": "签发文书并加盖印章。",
    "签发": "签发证明并加盖专用章。",
    "发证": "制作并核发证照，同步生成电子证照。",
    "登簿": "记载于登记簿。",
    "建档": "建立档案。",
    "清税": "结清税款、缴销发票。",
    "查询": "系统实时返回结果。",
    "扣款": "按约定扣划款项。",
    "办结": "作出决定，生成办理结果；电子证照同步归集至电子证照库，办件信息推送收件地。",
    "送达": "按申请人选择的方式送达：邮寄送达（免费寄递）、网上送达电子证照、窗口领取或通过证照制作辅助系统异地打印。",
}


def application_methods(item):
    modes = item["modes"]
    lines = []
    if "online" in modes:
        lines.append(f"网上申报：登录{PORTALS}，实名认证后在线填报、上传材料并电子签名提交，全程网办。")
    elif item["online_depth"].startswith("三级"):
        lines.append(f"网上预审：可先通过{PORTALS}提交材料预审，预审通过后到窗口一次办结。")
    if "proxy" in modes or "joint" in modes:
        lines.append(
            "窗口申报：到任一政务服务中心、部门分厅或乡镇（街道）便民服务中心的“跨域通办”专窗提交，"
            "专窗核验身份和原件、形式审查后流转至业务属地部门办理（异地代收代办）。"
        )
    if "joint" in modes:
        lines.append("多地联办：只需到一地提交一套材料，收件地与业务属地部门共享申请材料和档案、协同办理。")
    if item["express"]:
        lines.append("邮寄申报：可将纸质材料邮寄至办理地受理窗口（寄递地址以办理地公布为准）。")
    lines.append("帮办代办：可预约帮办代办人员，免费提供表单填写、材料整理、视频会商收件、网上申报和全程代办服务。")
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def acceptance_mode(item):
    modes = item["modes"]
    parts = ["一窗受理：前台综合受理、后台分类审批、窗口统一出件"]
    if "online" in modes:
        parts.append("全程网办：业务属地部门网上受理、远程办理，不得强制要求申请人到现场")
    if "proxy" in modes:
        parts.append(
            "收受分离（异地代收代办）：收件地“跨域通办”专窗负责身份核验、原件核验和形式审查，通过平台流转电子材料"
            "（或邮寄纸质材料并登记寄递单号）至业务属地部门，由业务属地审批并寄递或网上送达结果；收件地、办理地职责分明，全程留痕可追溯"
        )
    if "joint" in modes:
        parts.append("多地联办：一地受理申请，相关地区部门内部协同、材料和档案共享")
    if item["acceptance_extra"]:
        parts.append(item["acceptance_extra"])
    return "；\n".join(parts) + "。"


def review_procedure(item):
    return "—".join(item["review"])


def process_description(item):
    steps = ["申请", *item["review"]]
    if "送达" not in steps and item["delivery"] != ("online",):
        steps.append("送达")
    texts = {**STEP_TEXT, **item["steps"]}
    return "\n".join(f"{i}. {s}：{texts.get(s, '按业务规范办理。')}" for i, s in enumerate(steps, 1))


def consult_method(item):
    lines = [
        "政务服务便民热线：12345（演示）",
        "到办理地政务服务中心或“跨域通办”专窗现场咨询",
        "国家政务服务平台及办理地政务服务网“我要咨询”在线留言",
    ]
    hotline = next((HOTLINES[k] for k in item["dept"] if k in HOTLINES), None)
    if hotline and not hotline.startswith("12345"):
        lines.append(f"业务咨询热线：{hotline}")
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def complaint_method(item):
    lines = [
        "12345政务服务便民热线（演示）",
        "政务服务“好差评”：办事完成后可对本次服务进行评价，差评由办理单位回访核实并限期整改",
        "办理地政务服务管理机构监督电话（演示）",
    ]
    extra = next((SUPERVISION[k] for k in item["dept"] if k in SUPERVISION), None)
    if extra:
        lines.append(f"行业监督热线：{extra}")
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def form_instructions(item):
    """填报须知 for the application form sheet."""
    return [
        "请使用本事项规定格式的申请表，可在政务服务网下载或在窗口领取。",
        "各栏目应填写完整、准确，与身份证件、营业执照等证照信息一致；无内容的栏目填“无”。",
        "纸质申请表使用黑色签字笔填写，不得涂改；网上申报的以电子签名代替手写签名。",
        "委托他人办理的，须同时提交授权委托书和受托人身份证件。",
        f"本事项办理结果：{item['result_name']}；承诺办结时限以办理地公布为准。",
        "本模板为演示数据，请以办理地实际公布的表格为准。",
    ]


def result_lines(item):
    """Fields shown on the result sample PDF."""
    if item["category"] == "企业":
        holder = ("名称", SAMPLE_COMPANY)
        code = ("统一社会信用代码", f"{SAMPLE_COMPANY_CODE}（示例）")
    else:
        holder = ("姓名", "张晓明（示例）")
        code = ("公民身份号码", "110105********002X")
    return [
        holder,
        code,
        ("编号", f"演示{item['basic_code']}-0001"),
        ("有效期", "长期" if item["result_type"] != "证照" else "2026年1月15日至2031年1月14日"),
    ]

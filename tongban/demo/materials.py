"""Building blocks for the demo items' 申请材料 (Material rows) and their application forms.

Every material is a plain dict with the Material field names; `template=True` marks the main
application form, for which the loader generates a blank form (申报模板) and a filled sample
(零基础模板 / 示例样表) as .xlsx files.
"""

from tongban.core.codes import make_uscc

# Sample values used in 示例样表 (never a real person or company).
SAMPLE_ID = "11010519491231002X"  # the GB 11643 worked example
SAMPLE_PHONE = "13900000000"
SAMPLE_COMPANY = "莒南示范商贸有限公司（示例）"
SAMPLE_TRANSPORT_COMPANY = "莒南示范运输有限公司（示例）"
SAMPLE_COMPANY_CODE = make_uscc("91", "371327", "MA3C0001")


def material(
    name,
    *,
    kind="original",
    form="both",
    necessity="required",
    necessity_note="",
    source="applicant",
    source_note="",
    copies=1,
    spec="A4",
    standard="",
    original_check=False,
    instructions="",
    basis="",
    template=False,
):
    return {
        "name": name,
        "material_type": kind,
        "form": form,
        "necessity": necessity,
        "necessity_note": necessity_note,
        "source": source,
        "source_note": source_note,
        "paper_copies": copies,
        "spec": spec,
        "acceptance_standard": standard,
        "original_check": original_check,
        "fill_instructions": instructions,
        "basis": basis,
        "template": template,
    }


def application_form(name, standard="", instructions="", basis=""):
    """The main application form: blank form and sample are generated from the item's `form`."""
    return material(
        name,
        kind="original",
        form="both",
        source="applicant",
        source_note="通过政务服务网在线填写，或在窗口领取、下载空白表格填写",
        copies=1,
        spec="A4",
        template=True,
        standard=standard
        or "使用本事项规定格式；各栏目填写完整、准确，与证件信息一致；申请人签字（单位加盖公章），网上申报的以电子签名代替",
        instructions=instructions or "请使用黑色签字笔或在线填写；无内容的栏目填“无”；不得涂改，确需修改的由申请人在修改处签字确认",
        basis=basis,
    )


def identity(who="申请人", note=""):
    return material(
        f"{who}有效身份证件",
        kind="original",
        form="both",
        source="government",
        source_note="公安机关核发；可通过电子证照库调取",
        copies=0,
        spec="原件核验",
        original_check=True,
        standard="证件真实有效、在有效期内，与申请人信息一致；窗口现场人证核验，网上申请须通过实名认证（刷脸）",
        instructions="已通过国家政务服务平台实名认证或可调取电子身份证照的，免于提交复印件" + (f"；{note}" if note else ""),
    )


def authorisation():
    return material(
        "授权委托书及受托人有效身份证件",
        kind="original",
        necessity="conditional",
        necessity_note="委托他人代为办理的提供",
        source="applicant",
        copies=1,
        original_check=True,
        standard="载明委托人、受托人、委托事项、权限和期限，委托人签字（单位加盖公章）；受托人身份证件真实有效",
        instructions="帮办代办人员代为提交的，同时提交帮办代办登记表",
    )


def business_license():
    return material(
        "营业执照",
        kind="original",
        form="electronic",
        source="government",
        source_note="市场监督管理部门核发；通过电子营业执照调取",
        copies=0,
        spec="电子证照",
        standard="登记状态为存续（在营、开业、在册），名称和统一社会信用代码与申请一致",
        instructions="已领取电子营业执照的，通过电子证照共享调取，免于提交纸质材料",
    )


def household_register(who="申请人"):
    return material(
        f"{who}居民户口簿",
        kind="original",
        form="both",
        source="government",
        source_note="公安机关户政部门核发",
        copies=0,
        spec="原件核验",
        original_check=True,
        standard="户口簿首页及本人页完整、信息与身份证件一致",
        instructions="可通过户籍信息共享核验的，免于提交",
    )


def commitment(text):
    return material(
        "告知承诺书",
        kind="original",
        necessity="optional",
        necessity_note="选择告知承诺方式办理的提供",
        source="applicant",
        copies=1,
        standard="按规定格式签署，承诺内容完整，申请人签字（单位加盖公章）",
        instructions=text,
        basis="《国务院办公厅关于全面推行证明事项和涉企经营许可事项告知承诺制的指导意见》（国办发〔2020〕42号）",
    )


def person_fields(extra=()):
    """Applicant block of a personal application form: (label, sample, note)."""
    return [
        ("申请人姓名", "张晓明", "与居民身份证一致"),
        ("公民身份号码", SAMPLE_ID, "18位，末位为X的须大写"),
        ("联系电话", SAMPLE_PHONE, "填写本人常用手机号码，用于接收办理进度短信"),
        *extra,
        ("现居住地址", "山东省临沂市莒南县十字路街道人民路1号（示例）", "详细到门牌号"),
        ("结果领取方式", "邮寄送达", "可选：邮寄送达、窗口领取、网上送达（电子证照）、异地打印"),
        ("邮寄地址", "山东省临沂市莒南县十字路街道人民路1号（示例）", "选择邮寄送达的必填"),
    ]


def company_fields(extra=()):
    return [
        ("单位名称", SAMPLE_COMPANY, "与营业执照一致"),
        ("统一社会信用代码", SAMPLE_COMPANY_CODE, "18位"),
        ("法定代表人（负责人）", "张晓明", ""),
        ("经办人姓名", "李红", "委托经办的须提交授权委托书"),
        ("经办人联系电话", SAMPLE_PHONE, ""),
        *extra,
        ("结果领取方式", "网上送达（电子证照）", "可选：邮寄送达、窗口领取、网上送达（电子证照）、异地打印"),
    ]

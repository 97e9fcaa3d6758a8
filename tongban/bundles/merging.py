"""一张表单、一套材料: a bundle version's merged form, merged materials and order of work, computed
from its entries' published item versions.

Fields with the same canonical meaning appear once: the meaning is the field's own "meaning", else
the one its label or key is known by (CANONICAL), else the field is the item's own. Two definitions
of one meaning that disagree (type, choices) are conflicts, reported to the administrator when the
version is saved; the version cannot be published while any remain. Materials several items need
(same name once normalised) appear once; each department still receives those its item lists.
"""

import re
from dataclasses import dataclass, field

from tongban.cases.workflow import WorkflowError, generate_bpmn
from tongban.catalog.formdef import TYPES

# meaning: (label in the merged form, type, labels and keys it is known by)
CANONICAL = {
    "applicant_name": ("申请人姓名", "text", {"申请人", "申请人姓名", "姓名", "申报人姓名", "申请人名称"}),
    "id_number": ("申请人公民身份号码", "id_number", {"公民身份号码", "身份证号码", "身份证号", "申请人公民身份号码", "申请人身份证号码", "申报人公民身份号码"}),
    "phone": ("联系电话", "phone", {"联系电话", "手机号码", "联系手机", "手机号", "申请人联系电话"}),
    "address": ("联系地址", "address", {"联系地址", "通讯地址", "住址", "地址", "现居住地址", "居住地址"}),
    "mail_address": ("送达地址", "address", {"送达地址", "邮寄地址", "收件地址"}),
    "company_name": ("企业名称", "text", {"企业名称", "单位名称", "公司名称", "市场主体名称"}),
    "credit_code": ("统一社会信用代码", "credit_code", {"统一社会信用代码", "信用代码"}),
    "legal_representative": ("法定代表人", "text", {"法定代表人", "法定代表人姓名", "法人代表"}),
    "business_address": ("经营场所", "address", {"经营场所", "经营地址", "住所", "注册地址"}),
    "residence": ("户籍所在地", "region", {"户籍所在地", "户籍地"}),
    "baby_name": ("新生儿姓名", "text", {"新生儿姓名", "婴儿姓名"}),
    "baby_birth_date": ("新生儿出生日期", "date", {"出生日期", "新生儿出生日期", "婴儿出生日期"}),
    "baby_sex": ("新生儿性别", "choice", {"新生儿性别", "婴儿性别"}),
    "birth_certificate_no": ("出生医学证明编号", "text", {"出生医学证明编号"}),
    "mother_name": ("母亲姓名", "text", {"母亲姓名"}),
    "mother_id_number": ("母亲公民身份号码", "id_number", {"母亲公民身份号码", "母亲身份证号码"}),
    "father_name": ("父亲姓名", "text", {"父亲姓名"}),
    "father_id_number": ("父亲公民身份号码", "id_number", {"父亲公民身份号码", "父亲身份证号码"}),
    "bank_account": ("银行账号", "text", {"银行账号", "银行卡号"}),
    "agent_name": ("经办人姓名", "text", {"经办人姓名", "经办人"}),
    "agent_phone": ("经办人联系电话", "phone", {"经办人联系电话", "经办人手机号码"}),
    "guardian_name": ("监护人姓名", "text", {"监护人姓名", "监护人"}),
}
_BY_NAME = {name: meaning for meaning, (_label, _type, names) in CANONICAL.items() for name in names}
_NOISE = re.compile(r"[\s（）()【】\[\]《》“”\"'、，,。.：:；;·/-]")


def normalise(text):
    return _NOISE.sub("", str(text or ""))


def meaning_of(f):
    """The canonical meaning of a form field, or "" when it is the item's own field."""
    if f.get("meaning"):
        return f["meaning"]
    if f.get("key") in CANONICAL:
        return f["key"]
    return _BY_NAME.get(normalise(f.get("label")), "")


@dataclass
class Merged:
    form_fields: list = field(default_factory=list)
    field_map: dict = field(default_factory=dict)  # {entry key: {item field key: merged key}}
    material_groups: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def _describe(f):
    text = TYPES.get(f.get("type"), str(f.get("type")))
    if f.get("type") == "choice":
        text += "（" + "/".join(map(str, f.get("choices") or [])) + "）"
    return text


def merge_forms(entries, merged):
    """`entries`: [(entry key, item name, fields)]. Fills merged.form_fields / field_map / problems."""
    by_key, origin = {}, {}
    for entry_key, item_name, fields in entries:
        mapping = merged.field_map.setdefault(entry_key, {})
        for f in fields:
            meaning = meaning_of(f)
            key = meaning or f["key"]
            if not meaning and key in by_key and (by_key[key].get("meaning") or by_key[key]["label"] != f["label"]):
                key = f"{f['key']}_{entry_key}"  # an item's own field that only shares a key with another
            mapping[f["key"]] = key
            if key not in by_key:
                canon = CANONICAL.get(meaning)
                by_key[key] = {k: v for k, v in f.items() if k != "meaning"} | {"key": key}
                if canon:
                    by_key[key]["label"] = canon[0]
                if meaning:
                    by_key[key]["meaning"] = meaning
                by_key[key]["entries"] = [entry_key]
                origin[key] = (item_name, f)
                continue
            first_item, first = origin[key]
            target = by_key[key]
            if entry_key not in target["entries"]:  # an item asking twice (e.g. 单位名称 and 企业名称) is one entry
                target["entries"].append(entry_key)
            label = target["label"]
            if f.get("type") != first.get("type"):
                merged.problems.append(f"字段“{label}”在《{first_item}》中为{_describe(first)}，在《{item_name}》中为{_describe(f)}，类型不一致")
            elif f.get("type") == "choice" and sorted(f.get("choices") or []) != sorted(first.get("choices") or []):
                merged.problems.append(f"字段“{label}”在《{first_item}》中的可选项为{_describe(first)}，在《{item_name}》中为{_describe(f)}，可选项不一致")
            else:
                target["required"] = bool(target.get("required")) or bool(f.get("required"))
                limits = [x for x in (f.get("max_length"), target.get("max_length")) if x]
                if limits:  # the strictest limit, so the value fits every department's form
                    target["max_length"] = min(limits)
    merged.form_fields = list(by_key.values())


def merge_materials(entries, deferrable, merged):
    """`entries`: [(entry key, item name, materials)] with catalog Material rows. One group per
    normalised material name, in order of first appearance. A group may later get "produced_by"
    (see _mark_produced)."""
    groups = {}
    rank = {"required": 0, "conditional": 1, "optional": 2}
    deferrable = {normalise(n) for n in deferrable or []}
    for entry_key, item_name, materials in entries:
        for m in materials:
            name = normalise(m.name)
            group = groups.get(name)
            if group is None:
                group = groups[name] = {"key": f"g{len(groups) + 1}", "name": m.name, "necessity": m.necessity, "original_check": False,
                                        "deferrable": name in deferrable, "material_ids": [], "entry_ids": [], "items": []}
            if rank.get(m.necessity, 2) < rank.get(group["necessity"], 2):
                group["necessity"] = m.necessity
            group["original_check"] = group["original_check"] or m.original_check
            group["material_ids"].append(m.pk)
            if entry_key not in group["entry_ids"]:
                group["entry_ids"].append(entry_key)
                group["items"].append(item_name)
    unknown = deferrable - set(groups)
    if unknown:
        merged.problems.append(f"可容缺材料不在本一件事的材料中：{'、'.join(sorted(unknown))}")
    merged.material_groups = list(groups.values())


def _mark_produced(groups, results, stages):
    """A material that an earlier stage's item issues (营业执照 before 食品经营许可) is marked
    "produced_by" that entry: the applicant gets it from the bundle itself."""
    stage_of = {key: stage for stage, keys in stages.items() for key in keys}
    for group in groups:
        needed_from = min((stage_of[k] for k in group["entry_ids"] if k in stage_of), default=None)
        for key, result in results.items():
            if needed_from is not None and stage_of.get(key, needed_from) < needed_from and normalise(result) == normalise(group["name"]):
                group["produced_by"] = key
                break


def order_steps(entries_by_stage):
    """BPMN steps for the order of work: one task per entry (named by its key), stages in order,
    entries of one stage in a parallel group."""
    steps = []
    for keys in entries_by_stage:
        tasks = [{"name": key, "role": "clerk"} for key in keys]
        steps.append(tasks[0] if len(tasks) == 1 else {"parallel": tasks})
    return steps


def effective_stage(version, entry):
    """Parallel: one stage; sequential: each entry its own, in order; staged: as the entry says."""
    if version.order == version.PARALLEL:
        return 1
    return entry.seq if version.order == version.SEQUENTIAL else entry.stage


def compute(version):
    """Merged form, materials, order and problems of `version` from its entries (not saved)."""
    merged = Merged()
    entries = list(version.entries.select_related("implementation__item", "implementation__department").order_by("seq"))
    if not entries:
        merged.problems.append("一件事至少应包含一个事项")
        return merged, ""
    forms, materials, stages, results = [], [], {}, {}
    for entry in entries:
        item = entry.implementation.item
        published = item.published_version
        if published is None:
            merged.problems.append(f"《{item.name}》没有已发布的办事指南")
            continue
        form = getattr(published, "application_form", None)
        forms.append((entry.key, item.name, form.fields if form is not None else []))
        materials.append((entry.key, item.name, list(published.materials.all())))
        stages.setdefault(effective_stage(version, entry), []).append(entry.key)
        if published.result_name:
            results[entry.key] = published.result_name
        if not entry.implementation.is_active:
            merged.problems.append(f"《{item.name}》的实施清单已停用")
    merge_forms(forms, merged)
    merge_materials(materials, version.deferrable_materials, merged)
    _mark_produced(merged.material_groups, results, stages)
    departments = {e.implementation.department_id for e in entries}
    if version.lead_department_id and version.lead_department_id not in departments:
        merged.problems.append("牵头部门应为本一件事所含事项的实施部门之一")
    xml = ""
    ordered = [stages[s] for s in sorted(stages)]
    if any(len(keys) > 8 for keys in ordered):
        merged.problems.append("同一阶段并联办理的事项不能超过8个，请分为多个阶段")
    elif ordered:
        try:
            xml = generate_bpmn(order_steps(ordered))
        except WorkflowError as exc:
            merged.problems.append(f"办理顺序无法生成：{exc}")
    return merged, xml


def recompute(version):
    """Store the computed merge on `version` (the caller saves it); returns the problems."""
    merged, xml = compute(version)
    version.form_fields, version.field_map = merged.form_fields, merged.field_map
    version.material_groups, version.merge_problems, version.bpmn_xml = merged.material_groups, merged.problems, xml
    return merged.problems


def split_form(version, entry_key, data):
    """The item's own form data for one entry, filled from the merged form's values."""
    mapping = version.field_map.get(entry_key, {})
    return {item_key: data[merged_key] for item_key, merged_key in mapping.items() if merged_key in data}


def entry_fields(version, entry_key):
    """The merged fields one entry's item asks for (what its department receives)."""
    mapping = set(version.field_map.get(entry_key, {}).values())
    return [f for f in version.form_fields if f["key"] in mapping]


def validation_fields(version):
    """The merged definition as catalog.formdef validates it (without the merge's own attributes)."""
    return [{k: v for k, v in f.items() if k not in ("entries", "meaning")} for f in version.form_fields]

"""异地代收代办 (收受分离) at a 专窗: a clerk of the receiving place opens a case for an implementation
of another place, records how the applicant's identity was verified and which originals were seen,
works through the item's 形式审查要点, scans the materials, and forwards the file to the competent
place (`forward`, one lifecycle step; the hand-off travels through the exchange)."""

import re

from django.db import transaction
from django.utils import timezone

from tongban.core import authz
from tongban.core.errors import Conflict, DomainError
from tongban.directory.models import Membership

from . import intake
from .models import Case, IdentityMethod, Mode, PaperTransfer
from .models import Status as S


def review_points(version):
    """The item's 形式审查要点 as a checklist (one point per line or numbered clause)."""
    text = (version.formal_review_points or "").strip()
    if not text:
        return []
    parts = re.split(r"[\n；;]+|(?<!\d)\d+[、.．]\s*", text)
    return [p.strip(" 。；;") for p in parts if p and p.strip(" 。；;")]


def receiving_membership(user, window_id=None):
    """The clerk membership the user receives at: the one holding the given window, else the first."""
    members = Membership.objects.filter(user_id=getattr(user, "pk", None), is_active=True, role="clerk").select_related("region", "department", "window__hall")
    if window_id is not None:
        members = members.filter(window_id=window_id)
    m = members.order_by("id").first()
    if m is None:
        raise authz.PermissionDenied("只有窗口受理人员可以代收异地办件")
    return m


def receiving_check(user, implementation_code, window_id=None):
    """(implementation, published version, membership, decision) for a clerk about to receive it."""
    from tongban.cooperation.receiving import receiving_decision

    impl, version = intake.applicable_implementation(implementation_code, mode=None)
    m = receiving_membership(user, window_id)
    return impl, version, m, receiving_decision(impl, m.region)


@transaction.atomic
def open_case(user, implementation_code, applicant, form=None, delivery_method=None, delivery_address="", window_id=None):
    """A draft at the receiving window; refused with the reason when this place may not receive it."""
    from tongban.applicants.services import applicant_at_window
    from tongban.exchange.service import node_for_region, self_node

    if not isinstance(applicant, dict):
        raise DomainError("申请人信息应为对象", status=422)
    impl, version, m, decision = receiving_check(user, implementation_code, window_id)
    if not decision.allowed:
        raise DomainError(decision.reason, status=422)
    competent = node_for_region(impl.region.path)
    if competent is None:
        raise DomainError(f"办理地“{impl.region.name}”尚未接入通办平台节点，暂不能代收", status=422)
    person = applicant_at_window(
        applicant.get("kind") or "natural", applicant.get("name"), applicant.get("phone"), applicant.get("id_number") or "",
        applicant.get("credit_code") or "", applicant.get("applicant_type") or "2", applicant.get("agent_name") or "",
        applicant.get("agent_id_number") or "")
    case = intake.new_case(person, impl, version, form, delivery_method, delivery_address)
    case.mode = Mode.JOINT if "joint" in impl.get_modes_names() and impl.joint_partners.exists() else Mode.PROXY
    case.channel = "window"
    case.receiving_region, case.receiving_region_path = m.region, m.region.path
    case.receiving_department, case.receiving_window = m.department, m.window
    case.receiving_basis = decision.basis[:200]
    case.receiving_node, case.competent_node = self_node().node_id, competent.node_id
    case.save()
    return case


def is_receiving_clerk(user, case):
    """A clerk whose region covers the window that received the case."""
    return bool(case.receiving_region_path) and any(case.receiving_region_path.startswith(p) for r, p, _ in authz.grants(user) if r == "clerk")


def receiving_case(user, case_id, lock=False):
    """A case the user's receiving place holds (404 otherwise)."""
    qs = authz.filter_queryset(Case.objects.filter(pk=case_id), user).exclude(receiving_region_path="")
    case = qs.select_related("item_version", "implementation").first()
    if case is None or not is_receiving_clerk(user, case):
        from django.http import Http404

        raise Http404
    if lock:
        case = Case.objects.select_for_update().select_related("item_version", "implementation").get(pk=case.pk)
    return case


@transaction.atomic
def record_check(user, case_id, identity_method, originals_checked=(), formal_review=()):
    """What the window verified: identity, originals seen, each formal review point with its result."""
    case = receiving_case(user, case_id, lock=True)
    if case.status != S.DRAFT:
        raise Conflict("办件已转递办理地，收件核验不能再修改")
    if identity_method not in IdentityMethod.values:
        raise DomainError(f"请选择身份核验方式：{'、'.join(IdentityMethod.labels)}", status=422)
    if not isinstance(originals_checked, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in originals_checked):
        raise DomainError("已核验原件应为材料编号列表", status=422)
    known = set(case.item_version.materials.values_list("pk", flat=True))
    if set(originals_checked) - known:
        raise DomainError("已核验原件中有不属于本事项的材料", status=422)
    points, by_point = review_points(case.item_version), {}
    if not isinstance(formal_review, (list, tuple)):
        raise DomainError("形式审查结果应为列表", status=422)
    for n, row in enumerate(formal_review, 1):
        if not isinstance(row, dict) or not isinstance(row.get("point"), str) or not isinstance(row.get("ok"), bool):
            raise DomainError(f"第{n}项形式审查结果格式不正确（应包含要点 point 与是否符合 ok）", status=422)
        note = str(row.get("note") or "")[:300]
        if "\x00" in row["point"] + note:
            raise DomainError("形式审查说明含有不允许的字符", status=422)
        by_point[row["point"]] = {"point": row["point"], "ok": row["ok"], "note": note}
    unknown = set(by_point) - set(points)
    if unknown:
        raise DomainError(f"“{'、'.join(sorted(unknown))}”不是本事项的形式审查要点", status=422)
    case.intake_check = {
        "identity_method": identity_method, "identity_label": IdentityMethod(identity_method).label,
        "originals_checked": sorted(set(originals_checked)),
        "formal_review": [by_point.get(p, {"point": p, "ok": None, "note": ""}) for p in points],
        "checked_by": user.get_full_name() or user.username, "checked_at": f"{timezone.localtime():%Y-%m-%d %H:%M}",
    }
    case.save(update_fields=["intake_check", "updated_at"])
    return case


def add_scan(user, case_id, material_id, upload):
    """A material scanned at the window (before forwarding, or a supplement brought to the window)."""
    case = receiving_case(user, case_id)
    return intake.store_material(case, material_id, upload, how="window")


def check_ready(case):
    """Before forwarding: identity verified, originals seen, every review point passed, materials complete."""
    check = case.intake_check or {}
    if not check.get("identity_method"):
        raise DomainError("请先核验申请人身份（身份证阅读器、人脸核验或人工核验）", status=422)
    needs_original = {m.pk: m.name for m in case.item_version.materials.filter(original_check=True)}
    unseen = [name for pk, name in needs_original.items() if pk not in set(check.get("originals_checked", []))]
    if unseen:
        raise DomainError(f"请先核验原件：{'、'.join(unseen)}", status=422)
    failed = [r["point"] for r in check.get("formal_review", []) if r.get("ok") is not True]
    if failed:
        raise DomainError(f"形式审查要点未通过或未审查：{'、'.join(failed)}", status=422)
    intake.check_complete(case)


def forward_step(case, actor, opinion, params):
    """The `forward` handler (in handling): number the case where it was received, record any paper
    originals put in the post, issue the receipt; the hand-off follows the event (replication)."""
    from . import paperwork
    from .numbering import next_case_no

    check_ready(case)
    paper = params.get("paper") or None
    if paper is not None:
        if not isinstance(paper, dict):
            raise DomainError("纸质材料寄递信息格式不正确", status=422)
        courier, tracking = str(paper.get("courier") or "").strip(), str(paper.get("tracking_no") or "").strip()
        if not courier or not tracking or len(courier) > 60 or len(tracking) > 40:
            raise DomainError("纸质原件寄递请填写快递公司（60字以内）和快递单号（40字以内）", status=422)
        PaperTransfer.objects.create(case=case, courier=courier, tracking_no=tracking, sent_at=timezone.now())
    case.submitted_at = timezone.now()
    materials = paperwork.material_rows(case)
    case.case_no = next_case_no(case.receiving_region.code)
    paperwork.issue(case, "receipt", materials=materials)
    return {"materials": [m["name"] for m in materials], "paper": paper or {}, "basis": case.receiving_basis,
            "to": f"{case.region.name} {case.department.name}"}


def confirm_paper_step(case, actor, opinion, params):
    transfer = case.paper_transfers.filter(status=PaperTransfer.SENT).order_by("id").first()
    if transfer is None:
        raise Conflict("没有待签收的纸质材料")
    transfer.status, transfer.received_at, transfer.received_by = PaperTransfer.RECEIVED, timezone.now(), actor.name
    transfer.save(update_fields=["status", "received_at", "received_by"])
    return {"courier": transfer.courier, "tracking_no": transfer.tracking_no}


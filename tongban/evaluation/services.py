"""好差评 services, called by the pages, the API, the admin and the periodic task.

Every change is one transaction holding a row lock (the case for 一事一评, the token for 一次一评,
the rectification for its steps); a bad rating opens its rectification in the same transaction.
"""

import datetime
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from tongban.cases import notify
from tongban.cases.models import Case, Message
from tongban.core import audit, authz
from tongban.core.authz import PermissionDenied
from tongban.core.errors import Conflict, DomainError, NotFound
from tongban.core.workdays import add_working_days
from tongban.directory.models import Membership

from .models import GOOD_LEVELS, TAGS, Channel, Evaluation, Level, Rectification, RectificationStep, WindowRatingToken
from .signals import rating_changed

# Cases the applicant may rate: the handling ended (办结/送达) or the application was refused.
RATEABLE = ("concluded", "delivered", "refused", "denied")
COMMENT_MAX = 500
NOTE_MAX = 2000


def rectification_days():
    return int(getattr(settings, "TONGBAN_RECTIFICATION_DAYS", 15))


def token_minutes():
    return int(getattr(settings, "TONGBAN_RATING_TOKEN_MINUTES", 30))


# --- input --------------------------------------------------------------------------------------

def clean_level(value):
    try:
        level = int(value)
    except (TypeError, ValueError):
        level = None
    if level not in Level.values:
        raise DomainError("请选择评价等级（非常满意、满意、基本满意、不满意、非常不满意）", status=422)
    return level


def clean_tags(channel, tags):
    allowed = TAGS[channel]
    tags = [str(t).strip() for t in (tags or []) if str(t).strip()]
    wrong = [t for t in tags if t not in allowed]
    if wrong:
        raise DomainError(f"评价指标“{'、'.join(wrong)}”不属于{Channel(channel).label}，可选：{'、'.join(allowed)}", status=422)
    return [t for t in allowed if t in tags]  # canonical order, no duplicates


def clean_text(value, limit, label):
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(f"{label}不能超过{limit}字", status=422)
    return value


# --- ratings ------------------------------------------------------------------------------------

def _own_case_locked(user, case_id):
    qs = authz.filter_queryset(Case.objects.filter(pk=case_id), user).filter(applicant__user_id=getattr(user, "pk", None))
    ids = list(qs.values_list("pk", flat=True))
    case = Case.objects.select_for_update(of=("self",)).filter(pk__in=ids).select_related("implementation", "item_version", "applicant").first()
    if case is None:
        raise NotFound("未找到该办件，或它不属于当前登录的账号")
    return case


def can_rate(case):
    return case.status in RATEABLE


@transaction.atomic
def rate_case(user, case_id, level, tags=(), comment="", anonymous=False):
    """一事一评 by the case's applicant once the case ended."""
    if getattr(user, "applicant", None) is None:
        raise PermissionDenied("只有办件的申请人本人可以评价")
    case = _own_case_locked(user, case_id)
    level, tags = clean_level(level), clean_tags(Channel.ONLINE, tags)
    comment = clean_text(comment, COMMENT_MAX, "评价内容")
    if not can_rate(case):
        raise Conflict(f"办件当前状态为“{case.get_status_display()}”，办结或不予受理后才能评价")
    if Evaluation.objects.filter(case=case, channel=Channel.ONLINE, kind=Evaluation.INITIAL).exists():
        raise Conflict("该办件已评价（一事一评），如需补充请使用“追加评价”")
    evaluation = Evaluation(
        channel=Channel.ONLINE, level=level, tags=tags, comment=comment, anonymous=bool(anonymous), case=case,
        applicant=case.applicant, region_id=case.region_id, region_path=case.region_path, department_id=case.department_id,
        implementation=case.implementation, item_name=case.item_version.name,
    )
    return _store(user, evaluation, f"办件{case.case_no}")


@transaction.atomic
def add_rating(user, evaluation_id, level, tags=(), comment=""):
    """追加评价: a second row linked to the applicant's own first rating of a case."""
    own = Evaluation.objects.filter(pk=evaluation_id, applicant__user_id=getattr(user, "pk", None), kind=Evaluation.INITIAL)
    parent = Evaluation.objects.select_for_update().filter(pk__in=list(own.values_list("pk", flat=True))).first()
    if parent is None:
        raise NotFound("未找到该评价，或它不属于当前登录的账号")
    level, tags = clean_level(level), clean_tags(parent.channel, tags)
    comment = clean_text(comment, COMMENT_MAX, "追加评价内容")
    if parent.additions.exists():
        raise Conflict("该评价已追加过一次，不能再次追加")
    evaluation = Evaluation(
        channel=parent.channel, kind=Evaluation.ADDITIONAL, parent=parent, level=level, tags=tags, comment=comment,
        anonymous=parent.anonymous, case_id=parent.case_id, applicant_id=parent.applicant_id, region_id=parent.region_id,
        region_path=parent.region_path, department_id=parent.department_id, window_id=parent.window_id,
        implementation_id=parent.implementation_id, item_name=parent.item_name,
    )
    return _store(user, evaluation, "追加评价")


def _store(user, evaluation, what):
    try:
        with transaction.atomic():
            evaluation.save()
    except IntegrityError:  # a concurrent rating won the race: the unique constraint is the final word
        raise Conflict("该评价已提交（一事一评、追加评价各一次），请勿重复提交") from None
    audit.record(user, "evaluation.rate", evaluation, f"{what}：{evaluation.get_level_display()}")
    _changed(evaluation, rated=1, ratings=1, satisfied=int(evaluation.level in GOOD_LEVELS), bad=int(evaluation.is_bad))
    if evaluation.is_bad:
        open_rectification(evaluation)
    return evaluation


def _changed(evaluation, **changes):
    """Tell the cockpit's figures (in this transaction) how an initial rating's counts moved."""
    rating_changed.send(sender=Evaluation, evaluation=evaluation, changes=changes)


def open_rectification(evaluation):
    """谁办理谁负责: the unit the rating is about owns its rectification (called inside the rating's transaction)."""
    parent_rect = Rectification.objects.filter(evaluation_id=evaluation.parent_id, status__in=Rectification.ACTIVE).first() if evaluation.parent_id else None
    if parent_rect is not None:  # the original bad rating is still being handled: the addition joins it
        _step(parent_rect, None, "addition", "追加差评", parent_rect.status, note=evaluation.comment)
        return parent_rect
    rect = Rectification.objects.create(
        evaluation=evaluation, region_id=evaluation.region_id, region_path=evaluation.region_path,
        department_id=evaluation.department_id, real_name=not evaluation.anonymous and evaluation.applicant_id is not None,
    )
    _changed(evaluation, rectifications=1)
    _step(rect, None, "open", "差评转办", Rectification.OPEN, status_from="", note=f"{evaluation.get_level_display()}：{evaluation.comment}"[:NOTE_MAX])
    subject = f"办件{evaluation.case.case_no}" if evaluation.case_id else "窗口服务"
    staff = notify.staff_for(evaluation.region_path, evaluation.department_id)
    Message.objects.bulk_create([Message(recipient=u, case_id=evaluation.case_id, title="收到差评，请回访整改",
                                         body=f"{subject}收到“{evaluation.get_level_display()}”评价，请及时回访核实并整改。") for u in staff])
    return rect


# --- window 一次一评 ------------------------------------------------------------------------------

def clerk_window(user):
    m = (Membership.objects.filter(user=user, is_active=True, role=Membership.CLERK, window__isnull=False)
         .select_related("window__hall", "department").first())
    if m is None:
        raise PermissionDenied("您的账号未绑定服务窗口，不能发起窗口评价")
    return m


@transaction.atomic
def issue_token(user, case_no=""):
    """邀请评价: a one-time token for this visit, optionally bound to a case handled at the window."""
    m = clerk_window(user)
    case = None
    case_no = (case_no or "").strip()
    if case_no:
        case = authz.filter_queryset(Case.objects.filter(case_no=case_no), user).first()
        if case is None:
            raise DomainError(f"未找到办件{case_no[:30]}，或您无权查看", status=404)
    hall = m.window.hall
    for _ in range(5):
        code = f"{secrets.randbelow(10**8):08d}"
        if not WindowRatingToken.objects.filter(short_code=code).exists():
            break
    else:
        raise Conflict("评价码生成冲突，请重试")
    token = WindowRatingToken.objects.create(
        token=secrets.token_urlsafe(24), short_code=code, window=m.window, region=hall.region, region_path=hall.region.path,
        department=m.department or hall.department, case=case, issued_by=user,
        expires_at=timezone.now() + datetime.timedelta(minutes=token_minutes()),
    )
    audit.record(user, "evaluation.invite", token, f"窗口{m.window.number}发起评价邀请")
    return token


def find_token(value):
    value = (value or "").strip()
    if not value or len(value) > 64:
        raise NotFound("评价码无效，请向窗口工作人员重新获取")
    field = "short_code" if value.isdigit() and len(value) == 8 else "token"
    token = WindowRatingToken.objects.filter(**{field: value}).select_related("window__hall", "case").first()
    if token is None:
        raise NotFound("评价码无效，请向窗口工作人员重新获取")
    return token


def check_token(token, now=None):
    if token.status == WindowRatingToken.USED:
        raise Conflict("该评价码已使用，每次服务只能评价一次")
    if (now or timezone.now()) >= token.expires_at:
        raise DomainError("评价码已过期，请向窗口工作人员重新获取", status=410)


@transaction.atomic
def rate_window(token_value, level, tags=(), comment=""):
    """一次一评 from the rating device: exactly one rating per token, before it expires."""
    found = find_token(token_value)
    token = WindowRatingToken.objects.select_for_update().get(pk=found.pk)
    check_token(token)
    level, tags = clean_level(level), clean_tags(Channel.WINDOW, tags)
    comment = clean_text(comment, COMMENT_MAX, "评价内容")
    case = token.case
    evaluation = Evaluation(
        channel=Channel.WINDOW, level=level, tags=tags, comment=comment, token=token, case=case,
        # Bound to a case: the case's applicant is the rater (real name); otherwise the visitor is unknown.
        applicant_id=case.applicant_id if case else None, anonymous=case is None,
        region_id=token.region_id, region_path=token.region_path, department_id=token.department_id, window_id=token.window_id,
        implementation_id=case.implementation_id if case else None, item_name=case.item_version.name if case else "",
    )
    token.status, token.used_at = WindowRatingToken.USED, timezone.now()
    token.save(update_fields=["status", "used_at"])
    return _store(None, evaluation, f"窗口{token.window.number}")


# --- rectification --------------------------------------------------------------------------------

def _actor_name(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return "系统"
    return user.get_full_name() or user.username


def _step(rect, user, action, label, status_to, status_from=None, note="", data=None):
    return RectificationStep.objects.create(
        rectification=rect, action=action, label=label, status_from=rect.status if status_from is None else status_from,
        status_to=status_to, actor=user if getattr(user, "is_authenticated", False) else None, actor_name=_actor_name(user),
        note=note, data=data or {},
    )


def _locked(user, rect_id, action=authz.WRITE):
    ids = list(authz.filter_queryset(Rectification.objects.filter(pk=rect_id), user, authz.READ).values_list("pk", flat=True))
    rect = Rectification.objects.select_for_update(of=("self",)).filter(pk__in=ids).select_related("evaluation__case", "evaluation__applicant").first()
    if rect is None:
        raise NotFound("未找到该差评整改记录，或您无权查看")
    if action == authz.WRITE and not authz.filter_queryset(Rectification.objects.filter(pk=rect.pk), user, authz.WRITE).exists():
        raise PermissionDenied("只有办理该事项的部门（谁办理谁负责）可以处理此差评")
    return rect


def _require(rect, *statuses):
    if rect.status not in statuses:
        raise Conflict(f"整改当前状态为“{rect.get_status_display()}”，不能执行此操作")


def _tell_applicant(rect, title, body):
    ev = rect.evaluation
    if ev.applicant_id is None:
        return
    Message.objects.create(recipient_id=ev.applicant.user_id, case_id=ev.case_id, title=title, body=body)


@transaction.atomic
def record_callback(user, rect_id, reached, summary):
    rect = _locked(user, rect_id)
    _require(rect, Rectification.OPEN, Rectification.RECTIFYING)
    summary = clean_text(summary, NOTE_MAX, "回访记录")
    if not summary:
        raise DomainError("请填写回访记录（核实的情况）", status=422)
    rect.called_back_at, rect.callback_reached, rect.callback_summary = timezone.now(), bool(reached), summary
    rect.save(update_fields=["called_back_at", "callback_reached", "callback_summary"])
    _step(rect, user, "callback", "回访核实" + ("（已联系上）" if reached else "（未联系上）"), rect.status, note=summary, data={"reached": bool(reached)})
    audit.record(user, "rectification.callback", rect, "回访核实")
    return rect


@transaction.atomic
def decide(user, rect_id, outcome, note):
    """立行立改 and 解释说明 end the rectification; 限期整改 sets a deadline in working days."""
    rect = _locked(user, rect_id)
    _require(rect, Rectification.OPEN)
    if outcome not in dict(Rectification.OUTCOME_CHOICES):
        raise DomainError("请选择处理方式：立行立改、限期整改或解释说明", status=422)
    note = clean_text(note, NOTE_MAX, "处理说明")
    if not note:
        raise DomainError("请填写处理说明", status=422)
    if rect.real_name and rect.called_back_at is None:
        raise Conflict("实名差评须先回访核实，再确定处理方式")
    rect.outcome, rect.outcome_note = outcome, note
    label = dict(Rectification.OUTCOME_CHOICES)[outcome]
    if outcome == Rectification.DEADLINE:
        due = add_working_days(timezone.localdate(), rectification_days())
        rect.deadline, rect.deadline_warning = due.value, due.warning
        _step(rect, user, "decide", label, Rectification.RECTIFYING, note=note, data={"outcome": outcome, "deadline": due.value.isoformat()})
        rect.status = Rectification.RECTIFYING
        rect.save()
        _tell_applicant(rect, "差评整改进展", f"您的评价已由办理部门核实，将在{due.value:%Y年%m月%d日}前完成整改：{note}"[:480])
    else:
        _finish(rect, user, "decide", label, note, data={"outcome": outcome})
    audit.record(user, "rectification.decide", rect, label)
    return rect


def _finish(rect, user, action, label, result, data=None):
    _step(rect, user, action, label, Rectification.DONE, note=result, data=data)
    rect.status, rect.result, rect.completed_at = Rectification.DONE, result, timezone.now()
    rect.save()
    _changed(rect.evaluation, rectified=1)
    _tell_applicant(rect, "差评整改结果", f"您的评价已处理（{rect.get_outcome_display()}）：{result}"[:480])


@transaction.atomic
def complete(user, rect_id, result):
    rect = _locked(user, rect_id)
    _require(rect, Rectification.RECTIFYING)
    result = clean_text(result, NOTE_MAX, "整改结果")
    if not result:
        raise DomainError("请填写整改结果", status=422)
    _finish(rect, user, "complete", "整改完成", result)
    audit.record(user, "rectification.complete", rect, "整改完成")
    return rect


@transaction.atomic
def appeal(user, rect_id, reason):
    """申诉: the unit holds the rating mistaken or malicious; a supervisor of the region reviews it."""
    rect = _locked(user, rect_id)
    _require(rect, Rectification.OPEN, Rectification.RECTIFYING)
    reason = clean_text(reason, NOTE_MAX, "申诉理由")
    if not reason:
        raise DomainError("请填写申诉理由（误评或恶意差评的依据）", status=422)
    if rect.real_name and rect.called_back_at is None:
        raise Conflict("实名差评须先回访核实，再提出申诉")
    _step(rect, user, "appeal", "申诉", Rectification.APPEALED, note=reason)
    rect.status = Rectification.APPEALED
    rect.save(update_fields=["status"])
    notify.staff(notify.staff_for(rect.region_path, None, roles=("supervisor",)), rect.evaluation.case, "差评申诉待复核", f"差评整改#{rect.pk}提出申诉，请复核。")
    audit.record(user, "rectification.appeal", rect, "申诉")
    return rect


def can_review(user, rect):
    return any(role == "supervisor" and rect.region_path.startswith(path) and (dept is None or dept == rect.department_id)
               for role, path, dept in authz.grants(user))


@transaction.atomic
def review(user, rect_id, upheld, opinion):
    """复核: upheld → the rating is kept but no longer counted; rejected → back to rectification."""
    rect = _locked(user, rect_id, action=authz.READ)
    if not can_review(user, rect):
        raise PermissionDenied("只有本辖区的监督人员可以复核申诉")
    _require(rect, Rectification.APPEALED)
    opinion = clean_text(opinion, NOTE_MAX, "复核意见")
    if not opinion:
        raise DomainError("请填写复核意见", status=422)
    if upheld:
        _step(rect, user, "review", "复核：申诉成立", Rectification.EXCLUDED, note=opinion, data={"upheld": True})
        rect.status, rect.result, rect.completed_at = Rectification.EXCLUDED, opinion, timezone.now()
        ev = rect.evaluation
        counted = ev.status == Evaluation.COUNTED
        if counted:
            Evaluation.objects.filter(pk=ev.pk).update(status=Evaluation.EXCLUDED)
        _changed(ev, appeals_upheld=1, ratings=-int(counted), satisfied=-int(counted and ev.level in GOOD_LEVELS),
                 bad=-int(counted and ev.is_bad))
        _tell_applicant(rect, "评价复核结果", f"经复核，您的评价被认定为误评或不实评价，不计入统计：{opinion}"[:480])
    else:
        before = rect.steps.filter(action="appeal").order_by("-id").values_list("status_from", flat=True).first() or Rectification.OPEN
        _step(rect, user, "review", "复核：申诉不成立", before, note=opinion, data={"upheld": False})
        rect.status = before
    rect.save()
    audit.record(user, "rectification.review", rect, "申诉成立" if upheld else "申诉不成立")
    return rect


def overdue(today):
    return Rectification.objects.filter(status=Rectification.RECTIFYING, deadline__lt=today, overdue_at__isnull=True)


def flag_overdue(today=None):
    """Flag each overdue rectification once (a step and a notice to its unit); returns how many."""
    today = today or timezone.localdate()
    count = 0
    for pk in list(overdue(today).values_list("pk", flat=True)):
        with transaction.atomic():
            rect = Rectification.objects.select_for_update().filter(pk=pk, status=Rectification.RECTIFYING, overdue_at__isnull=True).first()
            if rect is None or rect.deadline >= today:
                continue
            rect.overdue_at = timezone.now()
            rect.save(update_fields=["overdue_at"])
            _step(rect, None, "flag_overdue", "整改超期", rect.status, note=f"已超过整改期限{rect.deadline:%Y-%m-%d}")
            notify.staff(notify.staff_for(rect.region_path, rect.department_id), None, "差评整改超期",
                         f"差评整改#{rect.pk}已超过整改期限{rect.deadline:%Y年%m月%d日}，请尽快完成。")
            count += 1
    return count


# --- reading --------------------------------------------------------------------------------------

def visible_evaluations(user):
    return authz.filter_queryset(Evaluation.objects.all(), user)


def visible_rectifications(user):
    return authz.filter_queryset(Rectification.objects.all(), user)


def follow_up_order(qs):
    """Active first; among them real-name ratings not yet called back first (100% follow-up), then oldest."""
    from django.db.models import Case as When_
    from django.db.models import IntegerField, Value, When

    return qs.annotate(
        _rank=When_(
            When(status__in=Rectification.ACTIVE, real_name=True, called_back_at__isnull=True, then=Value(0)),
            When(status__in=Rectification.ACTIVE, called_back_at__isnull=True, then=Value(1)),
            When(status__in=Rectification.ACTIVE, then=Value(2)),
            default=Value(3), output_field=IntegerField(),
        )
    ).order_by("_rank", "created_at", "id")


def get_visible(user, rect_id):
    rect = visible_rectifications(user).filter(pk=rect_id).select_related("evaluation__case", "evaluation__applicant", "department").first()
    if rect is None:
        raise Http404
    return rect

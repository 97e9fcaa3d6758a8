"""In-site messages at every step of a case, also sent through the SMS sender (after commit: a failed
text never undoes the step)."""

from tongban.applicants import sms

from .models import Message


def applicant(case, title, body):
    person(case.applicant.user_id, case.contact_phone, title, body, case)


def person(user_id, phone, title, body, case=None):
    """An in-site message to one person (linked to `case` when given) and the same text by SMS."""
    Message.objects.create(recipient_id=user_id, case=case, title=title[:200], body=body)
    sms.send_on_commit(phone, f"【通办】{title}：{body}"[:480])


def staff(users, case, title, body):
    Message.objects.bulk_create([Message(recipient=u, case=case, title=title[:200], body=body) for u in users])


def staff_for(region_path, department_id=None, roles=("clerk", "approver")):
    """Active staff whose membership covers a place (region subtree, and department when limited)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from tongban.directory.models import Membership

    ancestors = [region_path[: i + 1] for i, ch in enumerate(region_path) if ch == "/"]
    members = Membership.objects.filter(is_active=True, role__in=roles, region__path__in=ancestors)
    members = members.filter(Q(department__isnull=True) | Q(department_id=department_id)) if department_id else members.filter(department__isnull=True)
    return list(get_user_model().objects.filter(pk__in=members.values("user_id"), is_active=True))


def competent_staff(case, title, body):
    staff(staff_for(case.region_path, case.department_id), case, title, body)


def receiving_staff(case, title, body):
    if case.receiving_region_path:
        staff(staff_for(case.receiving_region_path, case.receiving_department_id, roles=("clerk",)), case, title, body)


def part_staff(case, title, body):
    users = {}
    for part in case.parts.filter(status="active"):
        for u in staff_for(part.region_path, part.department_id):
            users[u.pk] = u
    staff(list(users.values()), case, title, body)

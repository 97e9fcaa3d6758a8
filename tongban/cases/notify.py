"""In-site messages at every step of a case, also sent through the SMS sender (after commit: a failed
text never undoes the step)."""

from tongban.applicants import sms

from .models import Message


def applicant(case, title, body):
    Message.objects.create(recipient_id=case.applicant.user_id, case=case, title=title, body=body)
    sms.send_on_commit(case.contact_phone, f"【通办】{title}：{body}"[:480])


def staff(users, case, title, body):
    Message.objects.bulk_create([Message(recipient=u, case=case, title=title, body=body) for u in users])

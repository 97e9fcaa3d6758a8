"""In-site messages at every step of a case, also sent through the SMS sender (after commit: a failed
text never undoes the step)."""

from django.db import transaction

from .models import Message


def applicant(case, title, body):
    Message.objects.create(recipient_id=case.applicant.user_id, case=case, title=title, body=body)
    phone, text = case.contact_phone, f"【通办】{title}：{body}"[:480]
    transaction.on_commit(lambda: _sms(phone, text))


def staff(users, case, title, body):
    Message.objects.bulk_create([Message(recipient=u, case=case, title=title, body=body) for u in users])


def _sms(phone, text):
    from tongban.applicants.sms import send_text

    send_text(phone, text)

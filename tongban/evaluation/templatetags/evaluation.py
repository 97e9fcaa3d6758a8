"""The 好差评 section of the applicant's case page (included with one tag, so the portal view stays as it is)."""

from django import template

from tongban.evaluation import services
from tongban.evaluation.models import TAGS, Channel, Evaluation, Level

register = template.Library()


@register.inclusion_tag("evaluation/_case_section.html", takes_context=True)
def case_evaluation(context, case):
    own = Evaluation.objects.filter(case=case, channel=Channel.ONLINE, kind=Evaluation.INITIAL,
                                    applicant__user_id=context["request"].user.pk).select_related("rectification").first()
    addition = own.additions.first() if own else None
    rect = getattr(own, "rectification", None) if own else None
    return {
        "request": context["request"], "csrf_token": context.get("csrf_token"), "case": case, "own": own, "addition": addition,
        "rect": rect, "can_rate": own is None and services.can_rate(case), "levels": list(Level.choices), "tags": TAGS[Channel.ONLINE],
    }

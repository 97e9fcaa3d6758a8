"""`{% used_evidence case %}` on the staff case page: the evidence used under the applicant's consent,
read through UsedEvidence's authorisation filter."""

from django import template

from tongban.core import authz

register = template.Library()


@register.inclusion_tag("sharing/_used_evidence.html", takes_context=True)
def used_evidence(context, case):
    from tongban.sharing.models import UsedEvidence

    request = context.get("request")
    user = getattr(request, "user", None)
    rows = []
    if case is not None and user is not None:
        rows = list(authz.filter_queryset(UsedEvidence.objects.filter(case=case), user)
                    .select_related("certificate__type", "case_material", "consent").order_by("id"))
    return {"used_rows": rows, "case": case, "request": request}

"""Reads. Every page and API view gets its customers through these, so the rule "a CSM sees
only their own accounts, staff see all" lives in one place."""

from django.db.models import Count, Max, QuerySet

from .models import Customer


def customer_list_visible(*, user) -> QuerySet[Customer]:
    """The customers `user` may see: their own, or every one for staff."""
    qs = Customer.objects.select_related("csm")
    if user.is_staff:
        return qs
    return qs.filter(csm=user)


def customer_list_with_usage_summary(*, user) -> QuerySet[Customer]:
    """Visible customers with how many metrics they report and their latest usage day."""
    return customer_list_visible(user=user).annotate(
        metric_count=Count("usage__metric", distinct=True),
        last_usage_date=Max("usage__date"),
    )

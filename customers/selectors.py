"""Reads. Every page and API view gets its customers through these, so the rule "a CSM sees
only their own accounts, staff see all" lives in one place."""

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from .models import Customer, LifecycleEvent, UsageMetric


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


def customer_list_with_open_anomalies(*, user, search: str = "") -> QuerySet[Customer]:
    qs = customer_list_visible(user=user).annotate(
        open_anomalies=Count("anomalies", filter=Q(anomalies__status="open"))
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(external_id__icontains=search))
    return qs.order_by("name", "pk")


def customer_get_visible(*, user, customer_id) -> Customer:
    """The customer, or 404 when it does not exist or belongs to another CSM (the same
    answer, so nobody learns which accounts exist)."""
    customer = customer_list_visible(user=user).filter(pk=customer_id).first()
    if customer is None:
        raise Http404("No such customer.")
    return customer


def customer_find_visible(*, user, query: str) -> Customer:
    """A visible customer by id, external id or name (exact, then unique partial match)."""
    visible = customer_list_visible(user=user)
    query = query.strip()
    exact = visible.filter(Q(external_id=query) | Q(name__iexact=query))
    if _is_uuid(query):
        exact = visible.filter(pk=query) | exact
    found = list(exact[:2])
    if len(found) != 1:
        found = list(visible.filter(name__icontains=query)[:2]) if not found else found
    if len(found) != 1:
        raise Http404(f"No single customer matches {query!r}.")
    return found[0]


def customer_metrics(*, customer: Customer) -> list[dict]:
    return list(
        UsageMetric.objects.filter(customer=customer)
        .values("metric")
        .annotate(last_date=Max("date"))
        .order_by("metric")
    )


def lifecycle_list(*, customer: Customer) -> QuerySet[LifecycleEvent]:
    """An account's lifecycle changes, newest first."""
    return customer.lifecycle_events.select_related("recorded_by").order_by("-date", "kind")


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

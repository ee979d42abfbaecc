"""Reads. Every page and API view gets its customers through these, so the rule "a CSM sees
only their own accounts, staff see all" lives in one place."""

from collections.abc import Iterable
from typing import cast

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    F,
    IntegerField,
    Max,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import Customer, HealthScoreHistory, LifecycleEvent, UsageMetric

# The accounts page's orders: the key in ?sort=, its label, and the columns it orders by.
# Accounts without a score, anomalies or renewal date sort last whichever way.
ACCOUNT_SORTS: dict[str, tuple[str, tuple]] = {
    "name": ("Name", (F("name").asc(),)),
    "-arr": ("ARR, largest first", (F("arr").desc(),)),
    "arr": ("ARR, smallest first", (F("arr").asc(),)),
    "health": ("Health, worst first", (F("health_score").asc(nulls_last=True),)),
    "-health": ("Health, best first", (F("health_score").desc(nulls_last=True),)),
    "-open_anomalies": ("Most open anomalies", (F("open_anomalies").desc(),)),
    "renewal": ("Renewal, soonest first", (F("renewal_date").asc(nulls_last=True),)),
}
ACCOUNT_DEFAULT_SORT = "name"


class UnknownAccountSort(ValueError):
    pass


def customer_list_visible(*, user) -> QuerySet[Customer]:
    """The customers `user` may see: their own, or every one for staff."""
    qs = Customer.objects.select_related("csm")
    if user.is_staff:
        return qs
    return qs.filter(csm=user)


def customer_list_unowned() -> QuerySet[Customer]:
    """The accounts nobody owns (no CSM) and not churned, by name: ops give them an owner;
    until then their critical alerts go to the TREMOR_UNOWNED_ALERTS_TO fallback."""
    return (
        Customer.objects.filter(csm__isnull=True)
        .exclude(status=Customer.Status.CHURNED)
        .order_by("name", "pk")
    )


def customer_list_for_accounts_page(
    *, user, search: str = "", sort: str = ACCOUNT_DEFAULT_SORT
) -> QuerySet[Customer]:
    """The accounts page: visible customers whose name contains `search`, each with its
    latest health score and open anomaly count (correlated subqueries, so one query however
    many rows), in the order `sort` names. Raises UnknownAccountSort for any other key."""
    if sort not in ACCOUNT_SORTS:
        choices = ", ".join(ACCOUNT_SORTS)
        raise UnknownAccountSort(f"sort: unknown order {sort!r}; choose one of {choices}.")
    # The anomaly model lives in the anomalies app, which customers must not import; the
    # reverse relation names it without an import.
    anomaly_model = cast(type[Model], Customer._meta.get_field("anomalies").related_model)
    latest_health = HealthScoreHistory.objects.filter(customer=OuterRef("pk")).order_by("-date")
    open_count = (
        anomaly_model._default_manager.filter(customer=OuterRef("pk"), status="open")
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    usage = UsageMetric.objects.filter(customer=OuterRef("pk")).order_by()
    metric_count = usage.values("customer").annotate(n=Count("metric", distinct=True)).values("n")
    qs = customer_list_visible(user=user).annotate(
        health_score=Subquery(latest_health.values("score")[:1]),
        metric_count=Coalesce(Subquery(metric_count, output_field=IntegerField()), Value(0)),
        last_usage_date=Subquery(usage.order_by("-date").values("date")[:1]),
        open_anomalies=Coalesce(Subquery(open_count, output_field=IntegerField()), Value(0)),
    )
    if search:
        qs = qs.filter(name__icontains=search)
    # pk last: a stable order for the paginator when the chosen column ties.
    return qs.order_by(*ACCOUNT_SORTS[sort][1], "name", "pk")


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


# At most this many accounts are offered when a name matches several.
CUSTOMER_MATCHES_LIMIT = 10


def customer_matches_visible(
    *, user, query: str, limit: int = CUSTOMER_MATCHES_LIMIT
) -> list[Customer]:
    """Visible customers `query` names: the exact matches by id, external id or name if
    any, else those whose name contains it, by name. Another CSM's account is never among
    them, so an answer cannot tell it from a missing one."""
    visible = customer_list_visible(user=user)
    query = query.strip()
    exact = visible.filter(Q(external_id=query) | Q(name__iexact=query))
    if _is_uuid(query):
        exact = visible.filter(pk=query) | exact
    found = list(exact.order_by("name", "pk")[:limit])
    if found:
        return found
    return list(visible.filter(name__icontains=query).order_by("name", "pk")[:limit])


def customer_find_visible(*, user, query: str) -> Customer:
    """A visible customer by id, external id or name (exact, then unique partial match)."""
    found = customer_matches_visible(user=user, query=query, limit=2)
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


def active_user_ids_by_username(usernames: Iterable[str]) -> dict[str, int]:
    """The ids of the active users among `usernames` (one query), for naming an account's
    CSM in an import: an inactive user cannot sign in to see the account's alerts."""
    names = sorted(set(usernames))
    if not names:
        return {}
    users = get_user_model().objects.filter(username__in=names, is_active=True)
    return dict(users.values_list("username", "id"))

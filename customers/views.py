from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from .selectors import customer_list_visible, customer_list_with_usage_summary
from .validators import SEARCH_MAX_LENGTH

AUTOCOMPLETE_LIMIT = 10


@login_required
def customer_list(request):
    customers = customer_list_with_usage_summary(user=request.user)
    return render(request, "customers/customer_list.html", {"customers": customers})


@login_required
def customer_autocomplete(request):
    """Names for the ask box's <datalist>: the caller's visible accounts only."""
    # PostgreSQL text cannot hold NUL; drop it rather than fail the query.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    qs = customer_list_visible(user=request.user)
    if query:
        qs = qs.filter(name__icontains=query)
    rows = qs.order_by("name", "pk").values("id", "name")[:AUTOCOMPLETE_LIMIT]
    return JsonResponse([{"id": str(r["id"]), "name": r["name"]} for r in rows], safe=False)

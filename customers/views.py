from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render

from .selectors import (
    ACCOUNT_DEFAULT_SORT,
    ACCOUNT_SORTS,
    UnknownAccountSort,
    customer_list_for_accounts_page,
    customer_list_visible,
)
from .validators import SEARCH_MAX_LENGTH

AUTOCOMPLETE_LIMIT = 10
ACCOUNTS_PER_PAGE = 25


def _search(request) -> str:
    # PostgreSQL text cannot hold NUL; drop it rather than fail the query.
    return request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]


@login_required
def customer_list(request):
    """Accounts, searchable by name, sortable, 25 a page; an unknown order answers 400 with
    the accounts in the default order and a message naming the parameter."""
    query = _search(request)
    sort = request.GET.get("sort", "").strip() or ACCOUNT_DEFAULT_SORT
    sort_error, status = "", 200
    try:
        customers = customer_list_for_accounts_page(user=request.user, search=query, sort=sort)
    except UnknownAccountSort as exc:
        sort_error, status, sort = str(exc), 400, ACCOUNT_DEFAULT_SORT
        customers = customer_list_for_accounts_page(user=request.user, search=query, sort=sort)
    # get_page: a page number that is not one (or past the end) shows the nearest page.
    page = Paginator(customers, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": query,
        "sort": sort,
        "sort_error": sort_error,
        "sorts": [(key, label) for key, (label, _) in ACCOUNT_SORTS.items()],
    }
    return render(request, "customers/customer_list.html", context, status=status)


@login_required
def customer_autocomplete(request):
    """Names for the ask box's <datalist>: the caller's visible accounts only."""
    query = _search(request)
    qs = customer_list_visible(user=request.user)
    if query:
        qs = qs.filter(name__icontains=query)
    rows = qs.order_by("name", "pk").values("id", "name")[:AUTOCOMPLETE_LIMIT]
    return JsonResponse([{"id": str(r["id"]), "name": r["name"]} for r in rows], safe=False)

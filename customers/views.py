from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import customer_list_with_usage_summary


@login_required
def customer_list(request):
    customers = customer_list_with_usage_summary(user=request.user)
    return render(request, "customers/customer_list.html", {"customers": customers})

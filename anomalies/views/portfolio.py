"""The CSM's landing page: open anomalies of their portfolio (filled in by the pages issue)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..selectors import anomaly_list_visible


@login_required
def portfolio(request):
    anomalies = anomaly_list_visible(user=request.user).filter(status="open")
    return render(request, "anomalies/portfolio.html", {"anomalies": anomalies})

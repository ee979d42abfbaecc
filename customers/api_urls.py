from django.urls import path

from . import api

urlpatterns = [
    path("usage/", api.UsageIngestApi.as_view(), name="api-usage-ingest"),
]

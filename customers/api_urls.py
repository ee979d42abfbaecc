from django.urls import path

from . import api

urlpatterns = [
    path("usage/", api.UsageIngestApi.as_view(), name="api-usage-ingest"),
    path("customers", api.CustomerListApi.as_view(), name="api-customer-list"),
    path("customers/<uuid:customer_id>", api.CustomerDetailApi.as_view(), name="api-customer"),
    path(
        "customers/<uuid:customer_id>/lifecycle",
        api.CustomerLifecycleApi.as_view(),
        name="api-customer-lifecycle",
    ),
]

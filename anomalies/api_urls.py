from django.urls import path

from . import api

urlpatterns = [
    path("anomalies", api.AnomalyListApi.as_view(), name="api-anomaly-list"),
    path("anomalies/summary", api.AnomalySummaryApi.as_view(), name="api-anomaly-summary"),
    path("anomalies/scan", api.ScanStartApi.as_view(), name="api-scan-start"),
    path("anomalies/<uuid:anomaly_id>", api.AnomalyDetailApi.as_view(), name="api-anomaly-detail"),
    path(
        "anomalies/<uuid:anomaly_id>/dismiss",
        api.AnomalyDismissApi.as_view(),
        name="api-anomaly-dismiss",
    ),
    path(
        "anomalies/<uuid:anomaly_id>/reopen",
        api.AnomalyReopenApi.as_view(),
        name="api-anomaly-reopen",
    ),
    path("scans/<uuid:run_id>", api.ScanDetailApi.as_view(), name="api-scan-detail"),
    path("settings", api.SettingsApi.as_view(), name="api-settings"),
]

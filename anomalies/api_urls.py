from django.urls import include, path

from . import api, api_followups, api_insights

analytics = [
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
    path(
        "anomalies/<uuid:anomaly_id>/outcome",
        api.AnomalyOutcomeApi.as_view(),
        name="api-anomaly-outcome",
    ),
    path("scans/<uuid:run_id>", api.ScanDetailApi.as_view(), name="api-scan-detail"),
    path("settings", api.SettingsApi.as_view(), name="api-settings"),
    path("followups", api_followups.FollowUpListApi.as_view(), name="api-followup-list"),
    path(
        "followups/<uuid:followup_id>",
        api_followups.FollowUpDetailApi.as_view(),
        name="api-followup-detail",
    ),
    path(
        "followups/<uuid:followup_id>/close",
        api_followups.FollowUpCloseApi.as_view(),
        name="api-followup-close",
    ),
    path(
        "followups/<uuid:followup_id>/reopen",
        api_followups.FollowUpReopenApi.as_view(),
        name="api-followup-reopen",
    ),
    path("effectiveness", api_insights.EffectivenessApi.as_view(), name="api-effectiveness"),
    path("precision", api_insights.PrecisionApi.as_view(), name="api-precision"),
]

# Mounted at /api/. One account's anomalies sit under its customer URL; they are routed here
# so the customers app's URLs need not import this app's views.
urlpatterns = [
    path("analytics/", include(analytics)),
    path(
        "customers/<uuid:customer_id>/usage/anomalies",
        api.CustomerAnomalyListApi.as_view(),
        name="api-customer-anomalies",
    ),
]

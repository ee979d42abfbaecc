from django.urls import path

from .views import customer, followups, insights, portfolio, table
from .views import sensitivity as sensitivity_views
from .views import tuning as tuning_views

urlpatterns = [
    path("", portfolio.portfolio, name="home"),
    path("customers/<uuid:customer_id>/", customer.customer_detail, name="customer-detail"),
    path("customers/<uuid:customer_id>/rescan", customer.customer_rescan, name="customer-rescan"),
    path("anomalies/<uuid:anomaly_id>/dismiss", customer.anomaly_dismiss, name="anomaly-dismiss"),
    path("anomalies/<uuid:anomaly_id>/reopen", customer.anomaly_reopen, name="anomaly-reopen"),
    path("anomalies/<uuid:anomaly_id>/outcome", customer.anomaly_outcome, name="anomaly-outcome"),
    path("settings/", sensitivity_views.sensitivity, name="sensitivity"),
    path(
        "settings/in-force",
        sensitivity_views.sensitivity_in_force,
        name="sensitivity-in-force",
    ),
    path("settings/remove", sensitivity_views.sensitivity_remove, name="sensitivity-remove"),
    path("anomalies/", table.anomaly_table, name="anomaly-table"),
    path("anomalies/export.csv", table.anomaly_export, name="anomaly-export"),
    path("anomalies/<uuid:anomaly_id>/action", portfolio.anomaly_action, name="anomaly-action"),
    path("followups/", followups.followup_list, name="followup-list"),
    path("followups/<uuid:followup_id>/close", followups.followup_close, name="followup-close"),
    path("followups/<uuid:followup_id>/reopen", followups.followup_reopen, name="followup-reopen"),
    path(
        "followups/<uuid:followup_id>/due-date",
        followups.followup_due_date,
        name="followup-due-date",
    ),
    path("insights/", insights.insights, name="insights"),
    path(
        "insights/effectiveness.csv",
        insights.insights_effectiveness_csv,
        name="insights-effectiveness-csv",
    ),
    path("insights/tuning/", tuning_views.tuning_list, name="tuning"),
    path(
        "insights/tuning/<uuid:proposal_id>/decide",
        tuning_views.tuning_decide,
        name="tuning-decide",
    ),
    path(
        "insights/tuning/<uuid:proposal_id>/revert",
        tuning_views.tuning_revert,
        name="tuning-revert",
    ),
]

from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from customers.signals import lifecycle_changed

        from . import checks  # noqa: F401  (registers the system checks)
        from .services.outcomes import outcomes_on_lifecycle_changed

        post_migrate.connect(_schedule_after_migrate, sender=self)
        # Lifecycle changes recorded in customers derive the outcomes of this app's anomalies
        # (see anomalies.services.outcomes for why a signal, and why synchronous).
        lifecycle_changed.connect(outcomes_on_lifecycle_changed, dispatch_uid="anomaly-outcomes")


def _schedule_after_migrate(sender, using, **kwargs):
    # After the tables exist: register every periodic task of the project, the notifications'
    # included (config/schedule.py; idempotent, admin edits are kept). Connected here only,
    # so it runs once per migrate; `manage.py setup_schedule` calls the same function.
    from config.schedule import schedule_install

    schedule_install()

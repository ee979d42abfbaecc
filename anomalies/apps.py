from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AnomaliesConfig(AppConfig):
    name = "anomalies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(_schedule_after_migrate, sender=self)


def _schedule_after_migrate(sender, using, **kwargs):
    # After the tables exist: register every periodic task of the project, the notifications'
    # included (config/schedule.py; idempotent, admin edits are kept). Connected here only,
    # so it runs once per migrate; `manage.py setup_schedule` calls the same function.
    from config.schedule import schedule_install

    schedule_install()

"""The Celery app. Tasks live in each app's tasks.py; schedules live in django-celery-beat's
tables (editable in admin) and are registered by anomalies' data migrations."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tremor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

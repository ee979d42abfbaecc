"""The Celery app.

Tasks live in each app's tasks.py. Their schedules are the table in config/schedule.py,
installed into django-celery-beat's tables (where ops can edit them in admin) after every
`migrate` and by `manage.py setup_schedule`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tremor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""The Celery app and the base every task runs on.

Tasks live in each app's tasks.py. Their schedules are the table in config/schedule.py,
installed into django-celery-beat's tables (where ops can edit them in admin) after every
`migrate` and by `manage.py setup_schedule`.

Retries are owned here, once: a task names the errors worth retrying in `autoretry_for`
(nothing is retried unless it does) and Celery retries them with exponential backoff and full
jitter (`BaseTask`'s numbers unless the task sets its own); any other exception fails the task
at once. `give_up`, when a task has one, runs once when the task has failed for good. Time
limits are the settings' `CELERY_TASK_TIME_LIMIT` and `CELERY_TASK_SOFT_TIME_LIMIT`.
"""

import inspect
import os

from celery import Celery, Task
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The connection or the server went away (a restart, a failover, a network blip): the same
# work may well succeed a little later.
DB_CONNECTION_ERRORS = (OperationalError, InterfaceError)


class RetryLater(Exception):  # noqa: N818  (a request, not an error)
    """Raised by a task whose service reported a failure worth another attempt (a webhook that
    answered 500) rather than raising one; put it in the task's `autoretry_for`."""


class BaseTask(Task):
    """Every task's class (the app's `task_cls`). A task's options override these, e.g.
    `@shared_task(autoretry_for=DB_CONNECTION_ERRORS, give_up=chunk_record_failure)`."""

    # Five retries; retry n (from 0) waits a random 0 to 5 s * 2**n, capped at 5 minutes: at
    # most 2.5 minutes in all (about half that on average), enough for a database failover.
    # The jitter keeps tasks that failed together (every chunk of a scan) from retrying
    # together.
    max_retries = 5
    retry_backoff = 5
    retry_backoff_max = 5 * 60
    retry_jitter = True
    # give_up(exc, *task args, **task kwargs), once the task has failed for good: after its
    # last retry, at once for an error not worth retrying, or after the hard time limit
    # killed it (then in the worker's main process). Not called for a worker that died
    # mid-task (its message is redelivered) or for a task called as a plain function.
    give_up = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A task option becomes an attribute of the task's class: keep `give_up` a plain
        # function of the task's arguments rather than a method.
        if inspect.isfunction(cls.__dict__.get("give_up")):
            cls.give_up = staticmethod(cls.__dict__["give_up"])

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if self.give_up is not None:
            self.give_up(exc, *args, **kwargs)


app = Celery("tremor", task_cls=BaseTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

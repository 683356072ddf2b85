"""Hand work to the django-q2 worker pool.

django-q2 is the clock and the worker pool, not the source of truth: tasks carry ids only
and re-read state, so running one twice is harmless. With TASKS_EAGER (tests, or a demo
without a worker) the task runs inline, after the surrounding transaction has committed.
"""

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string


def enqueue(task_path: str, *args) -> None:
    if settings.TASKS_EAGER:
        import_string(task_path)(*args)
        return
    from django_q.tasks import async_task

    # Inside a transaction: outside one, django-q2's ORM broker first runs close_old_connections,
    # which (CONN_MAX_AGE 0, the default) closes the caller's connection, and the caller's next
    # statement opens a new one. Every reschedule and cancel enqueues its meeting task from an
    # after-commit subscriber, so each paid for a reconnect (benchmark B3, issue #8).
    with transaction.atomic():
        async_task(task_path, *args)

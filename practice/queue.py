"""Hand work to the django-q2 worker pool.

django-q2 is the clock and the worker pool, not the source of truth: tasks carry ids only
and re-read state, so running one twice is harmless. With TASKS_EAGER (tests, or a demo
without a worker) the task runs inline, after the surrounding transaction has committed.
"""

from django.conf import settings
from django.utils.module_loading import import_string


def enqueue(task_path: str, *args) -> None:
    if settings.TASKS_EAGER:
        import_string(task_path)(*args)
        return
    from django_q.tasks import async_task

    async_task(task_path, *args)

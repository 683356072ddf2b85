"""The django-q2 schedules that data migrations add: each app's periodic task (scheduling 0008
and 0011, messaging 0002 and 0008, telehealth 0002, integrations 0002).

A plain module rather than a migration, and it imports no models, so a migration can import it
on a fresh database; the functions work on the migration's historical Schedule model
(``apps``). They are deconstructible objects rather than closures so that ``squashmigrations``
can still write them out, and their docstrings are what ``migrate --plan`` shows.
"""

from django.utils.deconstruct import deconstructible

# django_q.models.Schedule.schedule_type values, spelled out (no model import here).
EVERY_MINUTE = {"schedule_type": "I", "minutes": 1}  # Schedule.MINUTES, every 1 minute
HOURLY = {"schedule_type": "H"}  # Schedule.HOURLY
DAILY = {"schedule_type": "D"}  # Schedule.DAILY
FOREVER = -1  # Schedule.repeats


@deconstructible
class AddSchedule:
    """Add the django-q2 schedule, or set its fields if one by that name exists."""

    def __init__(self, name: str, fields: dict):
        self.name, self.fields = name, fields

    def __call__(self, apps, schema_editor):
        # update_or_create by name keeps this idempotent: re-running it (or an operator having
        # created the schedule by hand) leaves exactly one schedule.
        apps.get_model("django_q", "Schedule").objects.update_or_create(name=self.name, defaults=self.fields)


@deconstructible
class RemoveSchedule:
    """Delete the django-q2 schedule."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=self.name).delete()


def schedule_functions(name: str, func: str, timing: dict) -> tuple[AddSchedule, RemoveSchedule]:
    """RunPython's forward and backward functions for the schedule ``name``: forwards it runs
    ``func`` (a dotted path) forever at ``timing`` (EVERY_MINUTE, HOURLY or DAILY); backwards it
    is deleted."""
    fields = {"func": func, **timing, "repeats": FOREVER}
    return AddSchedule(name, fields), RemoveSchedule(name)

"""Schedule the meeting sweep (telehealth.tasks.meetings_sweep) every minute in django-q2.

The sweep retries meetings whose provider call failed transiently and creates meetings a
worker never got to. update_or_create by name keeps this idempotent: re-running it (or an
operator having created the schedule by hand) leaves exactly one schedule.
"""

from django.db import migrations

SCHEDULE_NAME = "telehealth.meetings_sweep"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "telehealth.tasks.meetings_sweep",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 1,
            "repeats": -1,  # forever
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("telehealth", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

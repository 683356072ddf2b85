"""Schedule the meeting sweep (telehealth.tasks.meetings_sweep) every minute in django-q2.

The sweep retries meetings whose provider call failed transiently and creates meetings a
worker never got to. update_or_create by name keeps this idempotent: re-running it (or an
operator having created the schedule by hand) leaves exactly one schedule.
"""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

SCHEDULE_NAME = "telehealth.meetings_sweep"
add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "telehealth.tasks.meetings_sweep", EVERY_MINUTE
)


class Migration(migrations.Migration):
    dependencies = [
        ("telehealth", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

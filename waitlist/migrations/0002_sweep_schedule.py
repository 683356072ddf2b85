"""Schedule the minute sweep of the waitlist (waitlist.tasks.sweep_waitlist) in django-q2.
Idempotent: re-running leaves one schedule."""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

SCHEDULE_NAME = "waitlist.sweep_waitlist"
add_schedule, remove_schedule = schedule_functions(SCHEDULE_NAME, "waitlist.tasks.sweep_waitlist", EVERY_MINUTE)


class Migration(migrations.Migration):
    dependencies = [
        ("waitlist", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

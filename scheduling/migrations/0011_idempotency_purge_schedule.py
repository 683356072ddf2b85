"""Schedule the hourly purge of old Idempotency-Key records (scheduling.tasks) in django-q2.
Idempotent: re-running leaves one schedule."""

from django.db import migrations

from practice.queue_schedules import HOURLY, schedule_functions

SCHEDULE_NAME = "scheduling.purge_idempotency_records"
add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "scheduling.tasks.purge_idempotency_records", HOURLY
)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0010_availability_and_ehr_sync"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

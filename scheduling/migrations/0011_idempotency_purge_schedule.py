"""Schedule the hourly purge of old Idempotency-Key records (scheduling.tasks) in django-q2.
Idempotent: re-running leaves one schedule."""

from django.db import migrations

SCHEDULE_NAME = "scheduling.purge_idempotency_records"


def add_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "scheduling.tasks.purge_idempotency_records",
            "schedule_type": "H",  # Schedule.HOURLY
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0010_availability_and_ehr_sync"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

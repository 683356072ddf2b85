"""Schedule the session-lifecycle sweep (scheduling.tasks.sweep_lifecycle) every minute in
django-q2: late arrivals at T+5, no-shows at the end of the grace period, completed sessions.

update_or_create by name keeps this idempotent: re-running it (or an operator having created the
schedule by hand) leaves exactly one schedule.
"""

from django.db import migrations

SCHEDULE_NAME = "scheduling.lifecycle_sweep"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "scheduling.tasks.sweep_lifecycle",
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 1,
            "repeats": -1,  # forever
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_client_actions_and_lifecycle"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

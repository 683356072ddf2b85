"""Schedule the session-lifecycle sweep (scheduling.tasks.sweep_lifecycle) every minute in
django-q2: late arrivals at T+5, no-shows at the end of the grace period, completed sessions.

update_or_create by name keeps this idempotent: re-running it (or an operator having created the
schedule by hand) leaves exactly one schedule.
"""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

SCHEDULE_NAME = "scheduling.lifecycle_sweep"
add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "scheduling.tasks.sweep_lifecycle", EVERY_MINUTE
)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_client_actions_and_lifecycle"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

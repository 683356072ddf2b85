"""Schedule the webhook deliverer (integrations.tasks.deliver_webhooks_for_a_minute) every minute
in django-q2, like the reminder dispatcher (messaging 0002). Idempotent: one schedule by name."""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

SCHEDULE_NAME = "integrations.webhooks"
add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "integrations.tasks.deliver_webhooks_for_a_minute", EVERY_MINUTE
)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

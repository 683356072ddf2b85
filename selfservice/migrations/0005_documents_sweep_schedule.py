"""Schedule the minute sweep that raises queue items for unsigned required consents at T-24 h
(selfservice.tasks.sweep_documents). Idempotent: re-running leaves one schedule."""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

add_schedule, remove_schedule = schedule_functions(
    "selfservice.sweep_documents", "selfservice.tasks.sweep_documents", EVERY_MINUTE
)


class Migration(migrations.Migration):
    dependencies = [("selfservice", "0004_documents")]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]

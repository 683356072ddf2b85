"""Give every existing practice the default reminder sequence (SPEC F9), and schedule the
dispatcher (messaging.tasks.dispatch_for_a_minute) every minute in django-q2.

Practices created later get the same steps on first use (messaging.services.sequence_for).
Both operations are idempotent: re-running leaves one sequence per practice and one schedule.
"""

from django.db import migrations

from practice.queue_schedules import EVERY_MINUTE, schedule_functions

SCHEDULE_NAME = "messaging.dispatch"


def add_sequences(apps, schema_editor):
    from messaging.defaults import DEFAULT_STEPS

    Practice = apps.get_model("practice", "Practice")
    Sequence = apps.get_model("messaging", "Sequence")
    Step = apps.get_model("messaging", "Step")
    for practice in Practice.objects.filter(sequence__isnull=True):
        sequence = Sequence.objects.create(practice=practice)
        Step.objects.bulk_create(
            Step(sequence=sequence, position=index, **fields) for index, fields in enumerate(DEFAULT_STEPS)
        )


add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "messaging.tasks.dispatch_for_a_minute", EVERY_MINUTE
)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_initial"),
        ("practice", "0002_telehealth_settings"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(add_sequences, migrations.RunPython.noop),
        migrations.RunPython(add_schedule, remove_schedule),
    ]

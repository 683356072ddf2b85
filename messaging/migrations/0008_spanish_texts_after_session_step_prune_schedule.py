"""Existing practices get what new ones get from messaging.defaults:

- the Spanish translation of each default client step whose English text is still the default
  (a text the practice rewrote keeps no translation: it would no longer say the same thing);
- the after-session step (survey and next-booking link, END+30 e-mail), switched on;
- a daily django-q2 schedule that deletes expired preference and after-session links.

All three are idempotent.
"""

from django.db import migrations
from django.db.models import Max

from practice.queue_schedules import DAILY, schedule_functions

SCHEDULE_NAME = "messaging.prune_links"


def add_translations_and_step(apps, schema_editor):
    from messaging.defaults import DEFAULT_STEPS

    Sequence = apps.get_model("messaging", "Sequence")
    Step = apps.get_model("messaging", "Step")
    defaults = {fields["key"]: fields for fields in DEFAULT_STEPS}
    for step in Step.objects.filter(key__in=list(defaults)):
        fields = defaults[step.key]
        if fields.get("translations") and not step.translations and step.body == fields["body"]:
            step.translations = fields["translations"]
            step.save(update_fields=["translations"])
    after_session = defaults["after_session"]
    for sequence in Sequence.objects.exclude(steps__key="after_session"):
        last = sequence.steps.aggregate(last=Max("position"))["last"]
        Step.objects.create(sequence=sequence, position=(last or 0) + 1, **after_session)


add_schedule, remove_schedule = schedule_functions(
    SCHEDULE_NAME, "messaging.tasks.prune_expired_links", DAILY
)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0007_quiet_hours_languages_overrides_survey"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(add_translations_and_step, migrations.RunPython.noop),
        migrations.RunPython(add_schedule, remove_schedule),
    ]

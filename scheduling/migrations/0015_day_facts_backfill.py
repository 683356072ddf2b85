"""Backfill of the day facts (#14): every day that holds a session is marked stale, so each
practice's facts are counted by the one definition (scheduling.day_facts) on its first read.
``manage.py day_facts_rebuild`` counts them at once instead."""

from datetime import UTC

from django.db import migrations
from django.db.models.functions import TruncDate
from django.utils import timezone


def mark_every_day(apps, schema_editor):
    Appointment = apps.get_model("scheduling", "Appointment")
    DayFactsStale = apps.get_model("scheduling", "DayFactsStale")
    now = timezone.now()
    days = (
        Appointment.objects.annotate(utc_day=TruncDate("starts_at", tzinfo=UTC))
        .values_list("practice_id", "utc_day")
        .distinct()
        .order_by()
    )
    DayFactsStale.objects.bulk_create(
        (DayFactsStale(practice_id=practice_id, utc_day=day, marked_at=now) for practice_id, day in days),
        batch_size=5000,
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0014_day_facts")]

    operations = [migrations.RunPython(mark_every_day, migrations.RunPython.noop)]

"""Day-facts markers are inserted per change instead of upserted once per practice and day (#14):
same-day changes no longer wait for each other's commit on one row, and a recount removes only
the markers it read (scheduling.day_facts.mark_stale)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0015_day_facts_backfill'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='dayfactsstale',
            name='day_facts_stale_once_per_day',
        ),
    ]

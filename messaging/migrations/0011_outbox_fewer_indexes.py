"""Fewer indexes to maintain per outbox row (issue #8, B2: planning a month of reminders).

- ``appointment_id`` loses its own index: the unique key (appointment, recipient_key, kind)
  leads with it and serves every lookup by appointment.
- ``provider_message_id`` and ``fallback_of_id`` are indexed only where they are set: a planned
  row has neither, so planning no longer writes to those indexes; status callbacks (which look up
  a non-empty provider id) and fallback lookups (a given, non-null SMS) still use them.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0010_default_texts_with_session_link"),
        ("practice", "0008_client_external_source"),
        ("scheduling", "0011_idempotency_purge_schedule"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="outboxmessage",
            name="outbox_provider_id",
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="appointment",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="outbox_messages",
                to="scheduling.appointment",
            ),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="fallback_of",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The SMS this e-mail replaces after it failed or was undeliverable.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="fallbacks",
                to="messaging.outboxmessage",
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("provider_message_id", ""), _negated=True),
                fields=["provider_message_id"],
                name="outbox_provider_id_set",
            ),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("fallback_of__isnull", False)),
                fields=["fallback_of"],
                name="outbox_fallback_of_set",
            ),
        ),
    ]

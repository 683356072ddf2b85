"""Steps marked urgent go out during quiet hours; the 15-minute join text is urgent by default."""

from django.db import migrations, models


def mark_t15_urgent(apps, schema_editor):
    apps.get_model("messaging", "Step").objects.filter(key="t15_sms").update(urgent=True)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_client_preferences"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="urgent",
            field=models.BooleanField(
                default=False,
                help_text="Goes out even during the client's quiet hours (e.g. the 15-minute join link).",
            ),
        ),
        migrations.RunPython(mark_t15_urgent, migrations.RunPython.noop),
    ]

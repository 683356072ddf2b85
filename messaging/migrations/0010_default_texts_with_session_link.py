"""Put the client's session link ({{ manage_link }}: confirm, reschedule, cancel) and the C/R
reply hint into the default texts of existing practices' sequences, where a practice has not
edited them: a step whose text still equals the old default gets the new one; edited texts are
left alone. New practices get the new texts from messaging.defaults on first use.
"""

from django.db import migrations

# step key -> (old default text, new default text), frozen here as they were when written.
CHANGES = {
    "confirmation": (
        "Hi {{ client_name }},\n\nYour session with {{ clinician_name }} is booked for {{ session_date }} at {{ session_time }}.\n\nJoining by video? Use this link at the time of the session: {{ join_link }}\nIt opens a few minutes before the start. Before then, check your camera, microphone and\nconnection (about a minute): {{ tech_check_link }}\n\nWhat to expect: find a quiet, private place; have headphones if you can; join a couple of\nminutes early. The calendar file attached adds the session to your calendar.\n\nNeed to change the time? Call {{ practice_name }} at {{ practice_phone }}.\n\nChoose how and when we remind you: {{ preferences_link }}\n",
        "Hi {{ client_name }},\n\nYour session with {{ clinician_name }} is booked for {{ session_date }} at {{ session_time }}.\n\nJoining by video? Use this link at the time of the session: {{ join_link }}\nIt opens a few minutes before the start. Before then, check your camera, microphone and\nconnection (about a minute): {{ tech_check_link }}\n\nWhat to expect: find a quiet, private place; have headphones if you can; join a couple of\nminutes early. The calendar file attached adds the session to your calendar.\n\nPlease confirm, ask for another time or cancel here: {{ manage_link }}\nOr call {{ practice_name }} at {{ practice_phone }}.\n\nChoose how and when we remind you: {{ preferences_link }}\n",
    ),
    "t24_sms": (
        "Hi {{ client_name }}, a reminder of your video session with {{ clinician_name }} tomorrow at {{ session_time }}. Join here: {{ join_link }}",
        "Hi {{ client_name }}, a reminder of your video session with {{ clinician_name }} tomorrow at {{ session_time }}. Join here: {{ join_link }} Reply C to confirm, R to reschedule, or manage it here: {{ manage_link }}",
    ),
    "t24_sms_in_person": (
        "Hi {{ client_name }}, a reminder of your session with {{ clinician_name }} at {{ practice_name }} tomorrow at {{ session_time }}. Questions: {{ practice_phone }}",
        "Hi {{ client_name }}, a reminder of your session with {{ clinician_name }} at {{ practice_name }} tomorrow at {{ session_time }}. Reply C to confirm or R to reschedule, or tap {{ manage_link }} Questions: {{ practice_phone }}",
    ),
}


def update_texts(apps, schema_editor):
    Step = apps.get_model("messaging", "Step")
    for key, (old, new) in CHANGES.items():
        Step.objects.filter(key=key, body=old).update(body=new)


def restore_texts(apps, schema_editor):
    Step = apps.get_model("messaging", "Step")
    for key, (old, new) in CHANGES.items():
        Step.objects.filter(key=key, body=new).update(body=old)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0009_step_holdout_percent_holdoutassignment")]

    operations = [migrations.RunPython(update_texts, restore_texts)]

"""Put the session link ({{ manage_link }}: confirm, reschedule, cancel) and the C/R reply hint
into the Spanish texts of existing practices' default steps, as 0010 did for the English ones:
a step whose Spanish text still equals the old default gets the new one; a practice's own
edits are left alone. New practices get the new texts from messaging.defaults on first use.
"""

from django.db import migrations

# step key -> (old Spanish translation, new Spanish translation), frozen as they were when written.
CHANGES = {
    "confirmation": [
        {
            "subject": "Su cita con {{ clinician_name }} el {{ session_date }}",
            "body": "Hola {{ client_name }}:\n\nSu cita con {{ clinician_name }} está programada para el {{ session_date }} ({{ session_time }}).\n\n¿Se conectará por video? Use este enlace a la hora de la cita: {{ join_link }}\nEl enlace se activa unos minutos antes del inicio. Antes de la cita, pruebe su cámara,\nmicrófono y conexión (toma un minuto): {{ tech_check_link }}\n\nQué esperar: busque un lugar tranquilo y privado; use audífonos si puede; conéctese un\npar de minutos antes. El archivo de calendario adjunto agrega la cita a su\ncalendario.\n\n¿Necesita cambiar la hora? Llame a {{ practice_name }} al {{ practice_phone }}.\n\nElija cómo y cuándo le enviamos recordatorios: {{ preferences_link }}\n",
        },
        {
            "subject": "Su cita con {{ clinician_name }} el {{ session_date }}",
            "body": "Hola {{ client_name }}:\n\nSu cita con {{ clinician_name }} está programada para el {{ session_date }} ({{ session_time }}).\n\n¿Se conectará por video? Use este enlace a la hora de la cita: {{ join_link }}\nEl enlace se activa unos minutos antes del inicio. Antes de la cita, pruebe su cámara,\nmicrófono y conexión (toma un minuto): {{ tech_check_link }}\n\nQué esperar: busque un lugar tranquilo y privado; use audífonos si puede; conéctese un\npar de minutos antes. El archivo de calendario adjunto agrega la cita a su\ncalendario.\n\nConfirme, pida otra hora o cancele aquí: {{ manage_link }}\nO llame a {{ practice_name }} al {{ practice_phone }}.\n\nElija cómo y cuándo le enviamos recordatorios: {{ preferences_link }}\n",
        },
    ],
    "t24_sms": [
        {
            "body": "Hola {{ client_name }}, le recordamos su cita por video con {{ clinician_name }} mañana ({{ session_time }}). Para entrar: {{ join_link }}"
        },
        {
            "body": "Hola {{ client_name }}, le recordamos su cita por video con {{ clinician_name }} mañana ({{ session_time }}). Para entrar: {{ join_link }} Responda C para confirmar, R para cambiar la hora, o gestione su cita: {{ manage_link }}"
        },
    ],
    "t24_sms_in_person": [
        {
            "body": "Hola {{ client_name }}, le recordamos su cita con {{ clinician_name }} en {{ practice_name }} mañana ({{ session_time }}). Preguntas: {{ practice_phone }}"
        },
        {
            "body": "Hola {{ client_name }}, le recordamos su cita con {{ clinician_name }} en {{ practice_name }} mañana ({{ session_time }}). Responda C para confirmar o R para cambiar la hora, o toque {{ manage_link }} Preguntas: {{ practice_phone }}"
        },
    ],
}


def _swap(apps, direction: int) -> None:
    Step = apps.get_model("messaging", "Step")
    for key, pair in CHANGES.items():
        old, new = pair[::direction]
        for step in Step.objects.filter(key=key):
            if step.translations.get("es") == old:
                step.translations = {**step.translations, "es": new}
                step.save(update_fields=["translations"])


def update_texts(apps, schema_editor):
    _swap(apps, 1)


def restore_texts(apps, schema_editor):
    _swap(apps, -1)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0011_outbox_fewer_indexes")]

    operations = [migrations.RunPython(update_texts, restore_texts)]

"""The default reminder sequence of SPEC F9, given to every practice on first use, and the
one-off notices that are not steps (cancellation, the clinician's "Are you OK to continue?"
check-in text, the no-show notice).

Client steps carry a Spanish translation (``translations``), used when the practice offers
Spanish and the client chose it. The texts stay within GSM-7 (no á, í, ó, ú: "cita", "para
entrar") so every text fits two SMS segments in both languages (tests/messaging/test_languages.py).

Step 7 (no-show) is the one-off ``NO_SHOW_NOTICE`` planned when a participant becomes a no-show
(messaging.services.message_plan_no_show_notice); its words are fixed here, like the cancellation
notice's, not yet editable per practice (nor translated). Step 8's survey and next-session request
are the ``after_session`` step; its payment hook is the ``payment_due`` appointment event.
"""

from messaging.models import Anchor, Audience, Channel, Condition

DAY = 24 * 60

DEFAULT_STEPS: list[dict] = [
    {
        "key": "confirmation",
        "name": "Booking confirmation (e-mail)",
        "anchor": Anchor.BOOKING,
        "offset_minutes": 0,
        "channel": Channel.EMAIL,
        "attach_calendar": True,
        "subject": "Your session with {{ clinician_name }} on {{ session_date }}",
        "body": (
            "Hi {{ client_name }},\n\n"
            "Your session with {{ clinician_name }} is booked for {{ session_date }} "
            "at {{ session_time }}.\n\n"
            "Joining by video? Use this link at the time of the session: {{ join_link }}\n"
            "It opens a few minutes before the start. Before then, check your camera, microphone and\n"
            "connection (about a minute): {{ tech_check_link }}\n\n"
            "What to expect: find a quiet, private place; have headphones if you can; join a couple of\n"
            "minutes early. The calendar file attached adds the session to your calendar.\n\n"
            "Please confirm, ask for another time or cancel here: {{ manage_link }}\n"
            "Or call {{ practice_name }} at {{ practice_phone }}.\n\n"
            "Choose how and when we remind you: {{ preferences_link }}\n"
        ),
        "translations": {
            "es": {
                "subject": "Su cita con {{ clinician_name }} el {{ session_date }}",
                "body": (
                    "Hola {{ client_name }}:\n\n"
                    "Su cita con {{ clinician_name }} está programada para el {{ session_date }} "
                    "({{ session_time }}).\n\n"
                    "¿Se conectará por video? Use este enlace a la hora de la cita: {{ join_link }}\n"
                    "El enlace se activa unos minutos antes del inicio. Antes de la cita, pruebe su cámara,\n"
                    "micrófono y conexión (toma un minuto): {{ tech_check_link }}\n\n"
                    "Qué esperar: busque un lugar tranquilo y privado; use audífonos si puede; conéctese un\n"
                    "par de minutos antes. El archivo de calendario adjunto agrega la cita a su\n"
                    "calendario.\n\n"
                    "Confirme, pida otra hora o cancele aquí: {{ manage_link }}\n"
                    "O llame a {{ practice_name }} al {{ practice_phone }}.\n\n"
                    "Elija cómo y cuándo le enviamos recordatorios: {{ preferences_link }}\n"
                ),
            }
        },
    },
    {
        "key": "t24_sms",
        "name": "Day before (text)",
        "anchor": Anchor.START,
        "offset_minutes": -DAY,
        "channel": Channel.SMS,
        "conditions": [Condition.TELEHEALTH_ONLY],
        "body": (
            "Hi {{ client_name }}, a reminder of your video session with {{ clinician_name }} "
            "tomorrow at {{ session_time }}. Join here: {{ join_link }} Reply C to confirm, R to "
            "reschedule, or manage it here: {{ manage_link }}"
        ),
        "translations": {
            "es": {
                "body": (
                    "Hola {{ client_name }}, le recordamos su cita por video con {{ clinician_name }} "
                    "mañana ({{ session_time }}). Para entrar: {{ join_link }} Responda C para confirmar, "
                    "R para cambiar la hora, o gestione su cita: {{ manage_link }}"
                )
            }
        },
    },
    {
        "key": "t24_sms_in_person",
        "name": "Day before, in person (text)",
        "anchor": Anchor.START,
        "offset_minutes": -DAY,
        "channel": Channel.SMS,
        "conditions": [Condition.IN_PERSON_ONLY],
        "body": (
            "Hi {{ client_name }}, a reminder of your session with {{ clinician_name }} at "
            "{{ practice_name }} tomorrow at {{ session_time }}. Reply C to confirm or R to reschedule, "
            "or tap {{ manage_link }} Questions: {{ practice_phone }}"
        ),
        "translations": {
            "es": {
                "body": (
                    "Hola {{ client_name }}, le recordamos su cita con {{ clinician_name }} en "
                    "{{ practice_name }} mañana ({{ session_time }}). Responda C para confirmar o R para "
                    "cambiar la hora, o toque {{ manage_link }} Preguntas: {{ practice_phone }}"
                )
            }
        },
    },
    {
        "key": "t2h_tech_check",
        "name": "Tech check prompt, 2 hours before (text)",
        "anchor": Anchor.START,
        "offset_minutes": -120,
        "channel": Channel.SMS,
        "conditions": [Condition.TELEHEALTH_ONLY, Condition.TECH_CHECK_NOT_PASSED],
        "body": (
            "{{ client_name }}, your session with {{ clinician_name }} is at {{ session_time }}. "
            "Take 1 minute to test your camera and connection: {{ tech_check_link }}"
        ),
        "translations": {
            "es": {
                "body": (
                    "{{ client_name }}, su cita con {{ clinician_name }} es hoy ({{ session_time }}). "
                    "Dedique 1 minuto a probar su video y audio: {{ tech_check_link }}"
                )
            }
        },
    },
    {
        "key": "t15_sms",
        "name": "15 minutes before (text)",
        "urgent": True,
        "anchor": Anchor.START,
        "offset_minutes": -15,
        "channel": Channel.SMS,
        "conditions": [Condition.TELEHEALTH_ONLY],
        "body": "Your session with {{ clinician_name }} starts in 15 minutes. Tap to join: {{ join_link }}",
        "translations": {
            "es": {
                "body": (
                    "Su cita con {{ clinician_name }} empieza en 15 minutos. "
                    "Toque para entrar: {{ join_link }}"
                )
            }
        },
    },
    {
        "key": "t0_push",
        "name": "At the start (web push)",
        "anchor": Anchor.START,
        "offset_minutes": 0,
        "channel": Channel.PUSH,
        "conditions": [Condition.TELEHEALTH_ONLY, Condition.NOT_JOINED],
        # The notification opens the join link when tapped, so the text need not carry it.
        "body": "{{ clinician_name }} is ready for you. Tap to join.",
        "translations": {"es": {"body": "{{ clinician_name }} le espera. Toque para entrar."}},
    },
    {
        "key": "t5_clinician_prompt",
        "name": "Client not joined, 5 minutes in (text to clinician)",
        "anchor": Anchor.START,
        "offset_minutes": 5,
        "channel": Channel.SMS,
        "audience": Audience.CLINICIAN,
        "conditions": [Condition.TELEHEALTH_ONLY, Condition.NOT_JOINED],
        "body": (
            "{{ client_name }} has not joined your {{ session_time }} session yet. "
            "Open Attend to send them a check-in text."
        ),
    },
    {
        "key": "note_reminder",
        "name": "Note reminder after the session (e-mail to clinician)",
        "anchor": Anchor.END,
        "offset_minutes": 10,
        "channel": Channel.EMAIL,
        "audience": Audience.CLINICIAN,
        "subject": "Note reminder: {{ session_time }} session",
        "body": (
            "Hi {{ clinician_name }},\n\nThis is a reminder to complete your note for the session "
            "with {{ client_name }} on {{ session_date }} at {{ session_time }}.\n"
        ),
    },
    {
        "key": "after_session",
        "name": "After the session: survey and next booking (e-mail)",
        "anchor": Anchor.END,
        "offset_minutes": 30,
        "channel": Channel.EMAIL,
        "conditions": [Condition.NOT_NO_SHOW],
        "subject": "How was your session with {{ clinician_name }}?",
        "body": (
            "Hi {{ client_name }},\n\n"
            "Thank you for your session with {{ clinician_name }} today. Two quick questions about how it\n"
            "went (under a minute), and a button to ask for your next session: {{ after_session_link }}\n\n"
            "The link works for 14 days. Questions? Call {{ practice_name }} at {{ practice_phone }}.\n"
        ),
        "translations": {
            "es": {
                "subject": "¿Cómo le fue en su cita con {{ clinician_name }}?",
                "body": (
                    "Hola {{ client_name }}:\n\n"
                    "Gracias por su cita de hoy con {{ clinician_name }}. Responda dos preguntas\n"
                    "rápidas sobre cómo le fue (menos de un minuto) y, si lo desea, pida su próxima cita: "
                    "{{ after_session_link }}\n\n"
                    "El enlace funciona durante 14 días. ¿Preguntas? Llame a {{ practice_name }} al "
                    "{{ practice_phone }}.\n"
                ),
            }
        },
    },
]

CANCELLATION_NOTICE_ES = {
    "subject": "Su cita del {{ session_date }} fue cancelada",
    "sms_body": (
        "Hola {{ client_name }}, su cita con {{ clinician_name }} del {{ session_date }} "
        "({{ session_time }}) fue cancelada. Tel.: {{ practice_phone }}"
    ),
    "email_body": (
        "Hola {{ client_name }}:\n\nSu cita con {{ clinician_name }} del {{ session_date }} "
        "({{ session_time }}) fue cancelada.\n\nPara reservar otra hora, llame a {{ practice_name }} al "
        "{{ practice_phone }}.\n"
    ),
}

CANCELLATION_NOTICE = {
    "kind": "cancellation_notice",
    "name": "Cancellation notice",
    "subject": "Your session on {{ session_date }} is cancelled",
    "sms_body": (
        "Hi {{ client_name }}, your session with {{ clinician_name }} on {{ session_date }} at "
        "{{ session_time }} is cancelled. Questions: {{ practice_phone }}"
    ),
    "email_body": (
        "Hi {{ client_name }},\n\nYour session with {{ clinician_name }} on {{ session_date }} at "
        "{{ session_time }} is cancelled.\n\nTo book another time, call {{ practice_name }} at "
        "{{ practice_phone }}.\n"
    ),
}

# A moved session's booking-time step (the confirmation) says where it moved from and to instead
# of reading like a new booking; its calendar file updates the same event (messaging.compose).
MOVED_CONFIRMATION = {
    "subject": "Your session with {{ clinician_name }} has moved to {{ session_date }}",
    "sms_body": (
        "Hi {{ client_name }}, your session with {{ clinician_name }} has moved from "
        "{{ previous_session_date }} at {{ previous_session_time }} to {{ session_date }} at "
        "{{ session_time }}. Manage it here: {{ manage_link }}"
    ),
    "email_body": (
        "Hi {{ client_name }},\n\n"
        "Your session with {{ clinician_name }} has moved from {{ previous_session_date }} at "
        "{{ previous_session_time }} to {{ session_date }} at {{ session_time }}.\n\n"
        "Joining by video? Use this link at the new time: {{ join_link }}\n"
        "Check your camera, microphone and connection beforehand: {{ tech_check_link }}\n\n"
        "The calendar file attached moves the session in your calendar.\n\n"
        "Please confirm, ask for another time or cancel here: {{ manage_link }}\n"
        "Or call {{ practice_name }} at {{ practice_phone }}.\n"
    ),
}
MOVED_CONFIRMATION_ES = {
    "subject": "Su cita con {{ clinician_name }} cambió al {{ session_date }}",
    "sms_body": (
        "Hola {{ client_name }}, su cita con {{ clinician_name }} cambio del {{ previous_session_date }} "
        "({{ previous_session_time }}) al {{ session_date }} ({{ session_time }}). Gestione su cita: "
        "{{ manage_link }}"
    ),
    "email_body": (
        "Hola {{ client_name }}:\n\n"
        "Su cita con {{ clinician_name }} cambió del {{ previous_session_date }} "
        "({{ previous_session_time }}) al {{ session_date }} ({{ session_time }}).\n\n"
        "¿Se conectará por video? Use este enlace a la nueva hora: {{ join_link }}\n"
        "Pruebe su cámara, micrófono y conexión antes: {{ tech_check_link }}\n\n"
        "El archivo de calendario adjunto mueve la cita en su calendario.\n\n"
        "Confirme, pida otra hora o cancele aquí: {{ manage_link }}\n"
        "O llame a {{ practice_name }} al {{ practice_phone }}.\n"
    ),
}
MOVED_CONFIRMATION_TEXTS = {"en": MOVED_CONFIRMATION, "es": MOVED_CONFIRMATION_ES}

# The cancellation notice's texts per language (the dispatcher falls back to English).
CANCELLATION_NOTICE_TEXTS = {"en": CANCELLATION_NOTICE, "es": CANCELLATION_NOTICE_ES}

# "Resend link", tapped by staff on the today board or in the queue (messaging.services).
LINK_RESEND = {
    "subject": "Your link for the session with {{ clinician_name }}",
    "sms_body": (
        "Hi {{ client_name }}, here is your link for the {{ session_time }} session with "
        "{{ clinician_name }}: {{ join_link }}"
    ),
    "email_body": (
        "Hi {{ client_name }},\n\nHere is your link for the session with {{ clinician_name }} on "
        "{{ session_date }} at {{ session_time }}: {{ join_link }}\n\n"
        "Trouble joining? Call {{ practice_name }} at {{ practice_phone }}.\n"
    ),
}

CHECK_IN_TEXT = {
    "kind": "check_in_text",
    "name": "“Are you OK to continue?” check-in",
    # The clinician is waiting now: quiet hours must not hold it (consent still applies).
    "urgent": True,
    "not_joined": True,
    "subject": "{{ clinician_name }} is ready for your session",
    "sms_body": (
        "Hi {{ client_name }}, {{ clinician_name }} is ready for your {{ session_time }} session. "
        "Are you OK to continue? Tap to join: {{ join_link }} or reply to this text."
    ),
    "email_body": (
        "Hi {{ client_name }},\n\n{{ clinician_name }} is ready for your {{ session_time }} session. "
        "Are you OK to continue?\n\nTap to join: {{ join_link }}\n\nIf you can't make it today, "
        "please call {{ practice_name }} at {{ practice_phone }}.\n"
    ),
}

NO_SHOW_NOTICE = {
    "kind": "no_show_notice",
    "name": "No-show notice",
    "subject": "We missed you at your session on {{ session_date }}",
    "sms_body": (
        "Hi {{ client_name }}, we missed you at your {{ session_time }} session with "
        "{{ clinician_name }} today. To ask for a new time, tap {{ manage_link }} or call "
        "{{ practice_phone }}."
    ),
    # Only for a client who signed the no-show policy of a practice that charges a fee.
    "sms_body_fee": (
        "Hi {{ client_name }}, we missed you at your {{ session_time }} session with "
        "{{ clinician_name }} today. As in the no-show policy you signed, a fee of {{ no_show_fee }} "
        "applies. To ask for a new time, tap {{ manage_link }}"
    ),
    "email_body": (
        "Hi {{ client_name }},\n\nWe missed you at your session with {{ clinician_name }} on "
        "{{ session_date }} at {{ session_time }}.\n\nTo ask for a new time: {{ manage_link }}\n"
        "Or call {{ practice_name }} at {{ practice_phone }}.\n"
    ),
    "email_body_fee": (
        "Hi {{ client_name }},\n\nWe missed you at your session with {{ clinician_name }} on "
        "{{ session_date }} at {{ session_time }}.\n\nAs set out in the no-show policy you signed, "
        "a no-show fee of {{ no_show_fee }} applies.\n\nTo ask for a new time: {{ manage_link }}\n"
        "Or call {{ practice_name }} at {{ practice_phone }}.\n"
    ),
}

# The one-off notices by kind (messaging.dispatch reads their words from here).
ONE_OFF_NOTICES = {notice["kind"]: notice for notice in (CANCELLATION_NOTICE, CHECK_IN_TEXT, NO_SHOW_NOTICE)}

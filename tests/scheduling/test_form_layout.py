"""Forms keep each field's label, input, help and errors in one block, so a row of fields keeps
its grid when an error shows; the booking form's clients are tick boxes a script can search."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def field_blocks(html: str) -> dict[str, str]:
    """The rendered .field blocks by the name of the input inside."""
    blocks = {}
    for block in re.findall(r'<div class="field[^"]*">(.*?)\n</div>', html, re.DOTALL):
        name = re.search(r'name="([a-z_]+)"', block)
        if name:
            blocks[name.group(1)] = block
    return blocks


def test_the_booking_form_with_errors_keeps_label_input_and_error_together(
    signed_in, front_desk, clinician, client_ann, service_type
):
    page = signed_in(front_desk).post(
        reverse("appointment_create"),
        {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "date": "soon",
        },
    )
    html = page.content.decode()
    assert page.status_code == 200
    blocks = field_blocks(html)
    for name in ("date", "start_time", "duration_minutes", "clinician", "service_type"):
        assert name in blocks, name
    date = blocks["date"]
    assert '<label for="id_date"' in date and 'id="id_date"' in date and 'class="errorlist' in date
    assert re.search(r'<div class="field field-has-error">\s*<label for="id_date"', html)
    # The help text follows the input it describes, inside the same block.
    duration = blocks["duration_minutes"]
    assert duration.index('id="id_duration_minutes"') < duration.index('<div class="helptext"')


def test_the_booking_forms_clients_are_tick_boxes_with_a_search_script(
    signed_in, front_desk, client_ann, client_bob
):
    html = signed_in(front_desk).get(reverse("appointment_create")).content.decode()
    assert '<div id="id_clients" class="picker">' in html
    assert html.count('type="checkbox" name="clients"') == 2
    assert "Ctrl" not in html
    assert re.search(r'<script src="/static/js/client-picker.js" defer></script>', html)


def test_the_client_and_reschedule_forms_render_fields_as_blocks(
    signed_in, manager, practice, clinician, client_ann, service_type, tomorrow_10am
):
    from scheduling.services import appointment_book

    http = signed_in(manager)
    html = http.post(reverse("client_create"), {"first_name": "", "last_name": "Lee"}).content.decode()
    blocks = field_blocks(html)
    assert 'class="errorlist' in blocks["first_name"] and '<label for="id_first_name"' in blocks["first_name"]

    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    html = http.post(
        reverse("appointment_reschedule", args=[appointment.pk]), {"date": "", "start_time": ""}
    ).content.decode()
    blocks = field_blocks(html)
    assert '<label for="id_date"' in blocks["date"] and 'class="errorlist' in blocks["date"]

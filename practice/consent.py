"""SMS consent: opt-in and opt-out, from staff, the client's preference page, SMS keywords and
the carrier (SPEC F13). The only write path for ``Client.sms_consent_*`` outside client forms.

The client row holds the current state (``Client.has_sms_consent``, read by the dispatcher when
it prepares each text, so an opt-out reroutes every later reminder to e-mail); every request is
also kept as a ``ConsentEvent``. Requests are idempotent in state: a second STOP leaves the
client opted out and is recorded as an event with ``changed=False`` (a consent trail shows every
time the client asked). A re-delivered inbound SMS (same MessageSid) records nothing twice.

Which clients a number means: one phone can belong to clients of several practices. An inbound
keyword (or a carrier refusal) concerns the sender it was sent to, so it applies to the clients
with that number in the practices that text from that sender (``Practice.sms_from_number``, or
the default TWILIO_FROM_NUMBER for practices without one of their own). If no such client
exists, an opt-out applies to every client with the number: over-honouring a STOP is safe, missing
one is not. An opt-in never falls back: START must not sign a number up with practices it never
texted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction

from practice import facts
from practice.facts import Fact
from practice.models import (
    Client,
    ConsentAction,
    ConsentEvent,
    ConsentEventSource,
    ConsentSource,
    Practice,
    User,
)

logger = logging.getLogger(__name__)

CARRIER_UNSUBSCRIBED_CODE = "21610"


class ConsentError(Exception):
    """The request cannot be honoured as asked (e.g. texts without a mobile number on file)."""


def normalise_phone(value: str) -> str:
    """E.164 of ``value`` ("+1 212 555 0101", "+12125550101"), or "" if it is no phone number."""
    try:
        number = phonenumbers.parse(value or "", None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _client_row_source(source: str) -> str:
    # Client.sms_consent_source only knows ConsentSource's values; a source it does not know yet
    # (preference_center) is kept on the event and left blank on the row, so the row stays valid.
    return source if source in ConsentSource.values else ""


def _record(
    *, client: Client, action: str, source: str, by: User | None, now: datetime, detail: str, external_id: str
) -> ConsentEvent:
    if source not in ConsentEventSource.values:
        raise ValueError(f"Unknown consent source {source!r}")
    with transaction.atomic():
        locked = Client.objects.select_for_update().get(pk=client.pk)
        opted_in = locked.sms_consent_at is not None
        if action == ConsentAction.OPT_IN:
            if not locked.phone:
                raise ConsentError("There is no mobile number on file to send texts to.")
            changed = not opted_in
            if changed:
                locked.sms_consent_at = now
                locked.sms_consent_source = _client_row_source(source)
                locked.sms_consent_recorded_by = by
        else:
            changed = opted_in
            if changed:
                locked.sms_consent_at = None
                locked.sms_consent_source = ""
                locked.sms_consent_recorded_by = by
        if changed:
            locked.save(
                update_fields=[
                    "sms_consent_at",
                    "sms_consent_source",
                    "sms_consent_recorded_by",
                    "updated_at",
                ]
            )
        event = ConsentEvent.objects.create(
            practice_id=locked.practice_id,
            client=locked,
            action=action,
            source=source,
            recorded_by=by,
            at=now,
            changed=changed,
            detail=detail[:200],
            external_id=external_id,
        )
        if changed and action == ConsentAction.OPT_OUT:
            facts.record(Fact(facts.CLIENT_OPTED_OUT, locked.practice_id, event.pk, now))
    # The caller's instance shows the new state too.
    client.sms_consent_at = locked.sms_consent_at
    client.sms_consent_source = locked.sms_consent_source
    client.sms_consent_recorded_by_id = locked.sms_consent_recorded_by_id
    logger.info("SMS consent %s for client %s from %s (changed: %s)", action, client.pk, source, changed)
    return event


def client_sms_opt_out(
    *,
    client: Client,
    source: str,
    by: User | None = None,
    now: datetime,
    detail: str = "",
    external_id: str = "",
) -> ConsentEvent:
    """Withdraw the client's SMS consent: from now on the dispatcher sends their texts by e-mail.
    Always allowed, whatever the state; recorded as an event either way."""
    return _record(
        client=client,
        action=ConsentAction.OPT_OUT,
        source=source,
        by=by,
        now=now,
        detail=detail,
        external_id=external_id,
    )


def client_sms_opt_in(
    *,
    client: Client,
    source: str,
    by: User | None = None,
    now: datetime,
    detail: str = "",
    external_id: str = "",
) -> ConsentEvent:
    """Record SMS consent (keeping the original time and source if it is already on record).
    Raises ConsentError when the client has no mobile number."""
    return _record(
        client=client,
        action=ConsentAction.OPT_IN,
        source=source,
        by=by,
        now=now,
        detail=detail,
        external_id=external_id,
    )


# --- By phone number: inbound keywords and carrier refusals -------------------------------------


def practices_sending_from(number: str) -> list[Practice]:
    """Practices whose texts go out from ``number`` (E.164): their own sender, or the default
    sender for those without one."""
    number = normalise_phone(number)
    if not number:
        return []
    practices = list(Practice.objects.filter(sms_from_number=number))
    if number == normalise_phone(getattr(settings, "TWILIO_FROM_NUMBER", "")):
        practices += list(Practice.objects.filter(sms_from_number=""))
    return practices


def clients_for_number(*, phone: str, sender: str, fall_back_to_all: bool) -> list[Client]:
    """Clients with ``phone`` in the practices texting from ``sender`` (see the module text)."""
    phone = normalise_phone(phone)
    if not phone:
        return []
    with_number = Client.objects.filter(phone=phone).select_related("practice").order_by("pk")
    reached = list(with_number.filter(practice__in=practices_sending_from(sender)))
    if reached or not fall_back_to_all:
        return reached
    return list(with_number)


@dataclass(frozen=True)
class KeywordOutcome:
    clients: int  # client rows the keyword concerned
    duplicate: bool  # the same inbound message was applied before: nothing changed now


def client_sms_keyword_apply(
    *, phone: str, sender: str, action: str, keyword: str, message_sid: str, now: datetime
) -> KeywordOutcome:
    """Apply an inbound STOP-like (``opt_out``) or START-like (``opt_in``) keyword texted from
    ``phone`` to our number ``sender``. Idempotent per ``message_sid``."""
    opt_out = action == ConsentAction.OPT_OUT
    clients = clients_for_number(phone=phone, sender=sender, fall_back_to_all=opt_out)
    if not clients:
        return KeywordOutcome(clients=0, duplicate=False)
    apply = client_sms_opt_out if opt_out else client_sms_opt_in
    try:
        with transaction.atomic():
            # Lock the rows first: a concurrent re-delivery of the same message waits here, then
            # sees the events this one wrote. The unique constraint catches anything else.
            list(Client.objects.select_for_update().filter(pk__in=[c.pk for c in clients]).order_by("pk"))
            if ConsentEvent.objects.filter(external_id=message_sid).exists():
                return KeywordOutcome(clients=len(clients), duplicate=True)
            for client in clients:
                apply(
                    client=client,
                    source=ConsentEventSource.SMS_KEYWORD,
                    now=now,
                    detail=f"Texted {keyword}",
                    external_id=message_sid,
                )
    except IntegrityError:
        return KeywordOutcome(clients=len(clients), duplicate=True)
    return KeywordOutcome(clients=len(clients), duplicate=False)


def client_sms_opt_out_from_carrier(*, phone: str, now: datetime, from_number: str = "") -> int:
    """Twilio refused a text with error 21610: the number replied STOP to our sender before (or
    the carrier blocks it). Opt the number's clients out so later texts go by e-mail.

    ``from_number`` is the sender the text was sent from ("" means the default sender). Returns
    how many clients were opted out just now."""
    clients = clients_for_number(
        phone=phone, sender=from_number or getattr(settings, "TWILIO_FROM_NUMBER", ""), fall_back_to_all=True
    )
    changed = 0
    for client in clients:
        event = client_sms_opt_out(
            client=client,
            source=ConsentEventSource.CARRIER,
            now=now,
            detail=f"Twilio error {CARRIER_UNSUBSCRIBED_CODE} on sending",
        )
        changed += event.changed
    return changed

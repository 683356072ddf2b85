"""The waitlist page (issue 16): entries with their band and age, live offers with their clocks,
recent outcomes; add an entry; "offer this slot now" and "skip this client". Every action calls
a waitlist service."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from practice import parsing
from practice.access import BOOKERS, MANAGERS, SCHEDULERS, staff_view
from practice.forms import add_service_errors
from practice.models import Client, ClinicianProfile, Modality
from scheduling.models import ServiceType
from waitlist import policy
from waitlist.metrics import refill_figures
from waitlist.models import (
    Band,
    EntryStatus,
    FreedSlot,
    Offer,
    OfferStatus,
    SlotStatus,
    WaitlistEntry,
    WaitlistSettings,
)
from waitlist.services import (
    freed_slot_reopen,
    offer_skip,
    waitlist_entry_create,
    waitlist_entry_remove,
    waitlist_settings_update,
)

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class EntryForm(forms.Form):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    service_type = forms.ModelChoiceField(queryset=ServiceType.objects.none(), label="Service")
    modality = forms.ChoiceField(choices=[("", "Either"), *Modality.choices], required=False)
    clinicians = forms.ModelMultipleChoiceField(
        queryset=ClinicianProfile.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any clinician who offers the service.",
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None: any day.",
    )
    window_start = forms.TimeField(required=False, label="From (client's clock)")
    window_end = forms.TimeField(required=False, label="Until")
    earliest_date = parsing.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    latest_date = parsing.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    band = forms.ChoiceField(choices=Band.choices, initial=Band.ROUTINE, label="Priority")
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, practice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.for_practice(practice)
        self.fields["service_type"].queryset = ServiceType.objects.for_practice(practice).filter(
            is_active=True
        )
        self.fields["clinicians"].queryset = ClinicianProfile.objects.for_practice(practice).filter(
            is_active=True
        )

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if bool(start) != bool(end):
            raise forms.ValidationError("Give both ends of the time window, or neither.")
        data["time_windows"] = [[start.strftime("%H:%M"), end.strftime("%H:%M")]] if start else []
        return data


@staff_view(BOOKERS)
def waitlist_page(request):
    now = timezone.now()
    practice = request.practice
    settings = WaitlistSettings.for_practice(practice)
    entries = (
        WaitlistEntry.objects.for_practice(practice)
        .filter(status__in=[EntryStatus.ACTIVE, EntryStatus.PAUSED])
        .select_related("client", "service_type", "earlier_than")
        .order_by("created_at")
    )
    rows = [
        {
            "entry": entry,
            "band": policy.effective_band(
                entry.band, waiting=entry.waiting(now), aging_days=settings.aging_days
            ),
            "days": entry.waiting(now).days,
        }
        for entry in entries
    ]
    rows.sort(key=lambda row: (policy.BANDS.index(row["band"]), row["entry"].created_at))
    live = (
        Offer.objects.for_practice(practice)
        .filter(status=OfferStatus.LIVE, expires_at__gt=now)
        .select_related("client", "slot__clinician")
        .order_by("expires_at")
    )
    slots = FreedSlot.objects.for_practice(practice).select_related("clinician").order_by("-freed_at")[:30]
    context = {
        "rows": rows,
        "live": [{"offer": o, "minutes_left": int((o.expires_at - now).total_seconds() // 60)} for o in live],
        "slots": slots,
        "form": EntryForm(practice=practice),
        "can_act": request.membership.role in SCHEDULERS,
        "tz": practice.zoneinfo,
        "nav": "waitlist",
        "unfilled": SlotStatus.UNFILLED,
        "offering": SlotStatus.OFFERING,
        "figures": refill_figures(practice=practice, now=now),
    }
    return render(request, "staff/waitlist.html", context)


@require_POST
@staff_view(SCHEDULERS)
def waitlist_add(request):
    form = EntryForm(request.POST, practice=request.practice)
    if not form.is_valid():
        messages.error(request, "Check the entry: " + "; ".join(" ".join(e) for e in form.errors.values()))
        return redirect("waitlist")
    data = form.cleaned_data
    try:
        waitlist_entry_create(
            practice=request.practice,
            client=data["client"],
            service_type=data["service_type"],
            modality=data["modality"],
            clinicians=data["clinicians"],
            weekdays=data["weekdays"],
            time_windows=data["time_windows"],
            earliest_date=data["earliest_date"],
            latest_date=data["latest_date"],
            band=data["band"],
            note=data["note"],
            by=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{data['client'].full_name} is on the waitlist.")
    return redirect("waitlist")


@require_POST
@staff_view(SCHEDULERS)
def waitlist_remove(request, pk: int):
    entry = get_object_or_404(WaitlistEntry.objects.for_practice(request.practice), pk=pk)
    waitlist_entry_remove(entry=entry)
    messages.success(request, "Taken off the waitlist.")
    return redirect("waitlist")


@require_POST
@staff_view(SCHEDULERS)
def waitlist_offer_now(request, pk: int):
    slot = get_object_or_404(FreedSlot.objects.for_practice(request.practice), pk=pk)
    try:
        offers = freed_slot_reopen(slot=slot)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if offers:
            messages.success(request, f"Offered to {len(offers)} client(s) now.")
        else:
            slot.refresh_from_db()
            messages.error(request, f"Not offered: {slot.reason or 'nobody fits.'}")
    return redirect("waitlist")


@require_POST
@staff_view(SCHEDULERS)
def waitlist_skip(request, pk: int):
    offer = get_object_or_404(Offer.objects.for_practice(request.practice), pk=pk)
    try:
        offer_skip(offer=offer)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Skipped; they keep their place. The slot goes to the next in line.")
    return redirect("waitlist")


# --- The practice's waitlist settings (Settings → Waitlist) -------------------------------------

# Upper bounds beyond the model's own (at least 1): a number past these is a typo, not a policy.
SETTING_LIMITS = {
    "min_lead_minutes": 7 * 24 * 60,
    "wave_size_72h": 50,
    "wave_size_24h": 50,
    "wave_size_4h": 50,
    "wave_size_2h": 50,
    "hold_minutes_72h": 24 * 60,
    "hold_minutes_24h": 24 * 60,
    "hold_minutes_4h": 24 * 60,
    "hold_minutes_2h": 24 * 60,
    "offers_per_client_per_day": 20,
    "expired_in_a_row_to_pause": 20,
    "aging_days": 365,
}
SETTING_LABELS = {
    "enabled": "Offer freed times to the waitlist by itself",
    "min_lead_minutes": "Nothing offered for times starting within (minutes)",
    "wave_size_72h": "72 hours or more ahead: clients at once",
    "hold_minutes_72h": "72 hours or more ahead: hold (minutes)",
    "wave_size_24h": "24 to 72 hours ahead: clients at once",
    "hold_minutes_24h": "24 to 72 hours ahead: hold (minutes)",
    "wave_size_4h": "4 to 24 hours ahead: clients at once",
    "hold_minutes_4h": "4 to 24 hours ahead: hold (minutes)",
    "wave_size_2h": "Within 4 hours: clients at once",
    "hold_minutes_2h": "Within 4 hours: hold (minutes)",
    "offers_per_client_per_day": "Offers a client may get a day",
    "expired_in_a_row_to_pause": "Unanswered offers in a row before pausing a client's place",
    "aging_days": "Days of waiting that move a client up one priority band",
    "max_cascade_steps": "Times a slot freed by a client moving up is offered on",
}


class WaitlistSettingsForm(forms.ModelForm):
    class Meta:
        model = WaitlistSettings
        fields = list(SETTING_LABELS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = SETTING_LABELS[name]
            if name in SETTING_LIMITS:
                field.max_value = SETTING_LIMITS[name]
                field.validators.append(MaxValueValidator(SETTING_LIMITS[name]))
                field.widget.attrs["max"] = SETTING_LIMITS[name]
            if name != "enabled" and name != "min_lead_minutes":
                field.widget.attrs.setdefault("min", 1)

    def clean(self):
        data = super().clean()
        lead = data.get("min_lead_minutes")
        if lead is not None and lead >= 4 * 60:
            # The "within 4 hours" wave starts at the minimum lead; past 4 hours it never runs.
            self.add_error(
                "min_lead_minutes",
                "Keep this under 4 hours (240 minutes): the last wave runs between it and 4 hours.",
            )
        return data

    @property
    def groups(self):
        """The fields in the page's sections."""
        return [
            ("General", [self["enabled"], self["min_lead_minutes"]]),
            (
                "Waves by how far ahead the freed time is",
                [
                    self[f"{kind}_{bucket}"]
                    for bucket in ("72h", "24h", "4h", "2h")
                    for kind in ("wave_size", "hold_minutes")
                ],
            ),
            (
                "Clients",
                [self["offers_per_client_per_day"], self["expired_in_a_row_to_pause"], self["aging_days"]],
            ),
            ("Moving up", [self["max_cascade_steps"]]),
        ]


@staff_view(MANAGERS)
def waitlist_settings(request):
    """Owners and managers set the waitlist's policy; saved through ``waitlist_settings_update``
    (the audit log records each change, as for every settings page)."""
    practice = request.practice
    current = WaitlistSettings.for_practice(practice)
    form = WaitlistSettingsForm(request.POST if request.method == "POST" else None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            waitlist_settings_update(practice=practice, fields=dict(form.cleaned_data))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Waitlist settings saved.")
            return redirect("waitlist_settings")
    status = 400 if form.errors else 200
    return render(request, "staff/waitlist_settings.html", {"form": form, "nav": "settings"}, status=status)

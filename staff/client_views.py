"""Staff pages: the home redirect and clients.

Every query starts from ``request.practice``: a client of another practice is a 404, never a
403 that would confirm it exists.
"""

from __future__ import annotations

from auditlog.signals import accessed
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from practice import services
from practice.access import ALL_ROLES, CLIENT_EDITORS, SCHEDULERS, staff_view, visible_clients
from practice.forms import ClientForm, add_service_errors
from practice.models import Client, ClientStatus, Role
from scheduling.models import Appointment
from selfservice.documents import document_status

CLIENTS_PER_PAGE = 50


@login_required
def home(request):
    """Members land where they work: managers and front desk on the today board, clinicians on
    their day, billers on the schedule; operators without a practice on the operator console."""
    if request.membership is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return render(request, "staff/no_practice.html", status=403)
    if request.membership.role in SCHEDULERS:
        return redirect("board")
    if request.membership.role == Role.CLINICIAN:
        return redirect("my_day")
    return redirect("appointment_list")


@staff_view(ALL_ROLES)
def client_list(request):
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", ClientStatus.ACTIVE)
    clients = visible_clients(request.membership)
    if status in ClientStatus.values:
        clients = clients.filter(status=status)
    if query:
        clients = clients.filter(
            Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(preferred_name__icontains=query)
            | Q(email__icontains=query)
        )
    page = Paginator(clients.order_by("last_name", "first_name"), CLIENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "query": query,
        "status": status,
        "statuses": ClientStatus.choices,
        "can_edit": request.membership.role in CLIENT_EDITORS,
        "nav": "clients",
    }
    return render(request, "staff/client_list.html", context)


@staff_view(ALL_ROLES)
def client_detail(request, pk: int):
    client = get_object_or_404(visible_clients(request.membership), pk=pk)
    # Viewing a client's record is itself logged (SPEC F23).
    accessed.send(sender=Client, instance=client)
    now = timezone.now()
    appointments = (
        Appointment.objects.visible_to(request.membership)
        .filter(participants__client=client)
        .select_related("clinician", "service_type")
        .order_by("-starts_at")
    )
    context = {
        "client": client,
        "upcoming": appointments.filter(starts_at__gte=now).order_by("starts_at")[:20],
        "past": appointments.filter(starts_at__lt=now)[:20],
        "documents": document_status(client),
        "local_tz": client.zoneinfo(request.practice),
        "can_edit": request.membership.role in CLIENT_EDITORS,
        "nav": "clients",
    }
    return render(request, "staff/client_detail.html", context)


def _save_client(request, form: ClientForm, client: Client | None):
    """Run the client service with the form's values; its errors land on the form's fields."""
    consent = dict(
        sms_consent=form.cleaned_data["sms_consent"],
        consent_source=form.cleaned_data["consent_source"],
        by=request.user,
    )
    try:
        if client is None:
            return services.client_create(practice=request.practice, fields=form.model_fields(), **consent)
        return services.client_update(client=client, fields=form.model_fields(), **consent)
    except ValidationError as error:
        add_service_errors(form, error)
        return None


@staff_view(CLIENT_EDITORS)
def client_create(request):
    form = ClientForm(
        request.POST if request.method == "POST" else None, instance=Client(practice=request.practice)
    )
    if request.method == "POST" and form.is_valid():
        client = _save_client(request, form, None)
        if client is not None:
            messages.success(request, f"{client.full_name} was added.")
            return redirect("client_detail", pk=client.pk)
    return render(request, "staff/client_form.html", {"form": form, "nav": "clients"})


@staff_view(CLIENT_EDITORS)
def client_edit(request, pk: int):
    client = get_object_or_404(Client.objects.for_practice(request.practice), pk=pk)
    form = ClientForm(request.POST if request.method == "POST" else None, instance=client)
    if request.method == "POST" and form.is_valid() and _save_client(request, form, client) is not None:
        messages.success(request, "Changes saved.")
        return redirect("client_detail", pk=client.pk)
    return render(request, "staff/client_form.html", {"form": form, "client": client, "nav": "clients"})

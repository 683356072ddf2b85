"""The settings hub: one navigation entry for owners and managers, leading to every settings
and administration page (reminders, webhooks, API tokens, team, practice, services, hours, audit)."""

from __future__ import annotations

from django.shortcuts import render

from practice.access import MANAGERS, staff_view


@staff_view(MANAGERS)
def settings_hub(request):
    return render(request, "staff/admin/settings_hub.html", {"nav": "settings"})

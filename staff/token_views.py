"""API tokens in the dashboard (SPEC F19): a manager creates a token (its key shown once, never
stored), sees the practice's tokens with when each was last used, and revokes one. The same
services as ``manage.py create_api_token`` and the operator console (practice/tokens.py)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from practice.access import MANAGERS, staff_view
from practice.forms import add_service_errors
from practice.models import ApiToken
from practice.tokens import NAME_MAX_LENGTH, api_token_create, api_token_revoke


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="What will use it, e.g. “EHR sync”. Shown in the audit log of every change it makes.",
    )


@staff_view(MANAGERS)
def api_tokens(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, key = api_token_create(
                practice=request.practice, name=form.cleaned_data["name"], created_by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            response = render(
                request,
                "staff/api_token_created.html",
                {"token": token, "key": key, "nav": "integrations"},
            )
            response["Cache-Control"] = "no-store"  # the key must not sit in a browser cache
            return response
    tokens = ApiToken.objects.filter(practice=request.practice).order_by("revoked_at", "-created_at")
    context = {"tokens": tokens, "form": form, "nav": "integrations"}
    return render(request, "staff/api_tokens.html", context, status=400 if form.errors else 200)


@require_POST
@staff_view(MANAGERS)
def api_token_revoke_view(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, practice=request.practice)
    api_token_revoke(token=token)
    messages.success(request, f"The token “{token.name}” ({token.prefix}…) is revoked: it no longer works.")
    return redirect("api_tokens")

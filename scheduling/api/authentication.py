"""``Authorization: Token att_…``: a practice's API token (practice.tokens).

``request.auth`` is the ApiToken and ``request.user`` stays anonymous: a token acts for a
practice, not for a person. Every view scopes its queries with ``request.auth.practice``.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from practice.models import ApiToken
from practice.tokens import api_token_authenticate

KEYWORD = "Token"
SCHEME_NAME = "ApiToken"


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as “Authorization: Token att_…”.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.") from None
        token = api_token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return AnonymousUser(), token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when no token is sent.
        return f'{KEYWORD} realm="api"'


class HasApiToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token in the OpenAPI schema (and the Swagger UI's Authorize button)."""

    target_class = ApiTokenAuthentication
    name = SCHEME_NAME

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A practice's API token, sent as `Authorization: Token att_…`. "
            "Create one with `manage.py create_api_token --practice <slug> --name <what uses it>`.",
        }

"""The dashboard's API token page (SPEC F19): managers make a token (key shown once), see the
practice's tokens and revoke one; nobody else may, and another practice's tokens are a 404."""

import pytest

from practice.models import ApiToken
from practice.tokens import api_token_authenticate, api_token_create
from tests.conftest import verified_session

pytestmark = pytest.mark.django_db

PAGE = "/settings/api-tokens/"


def test_a_manager_makes_a_token_and_sees_its_key_once(manager):
    web = verified_session(manager)

    response = web.post(PAGE, {"name": "EHR sync"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(practice=manager.memberships.get().practice, name="EHR sync")
    key = response.context["key"]
    assert key in response.content.decode()
    assert api_token_authenticate(key) == token
    listing = web.get(PAGE).content.decode()
    assert "EHR sync" in listing and token.prefix in listing
    assert key not in listing


def test_a_nameless_token_is_a_field_error_not_a_token(manager):
    response = verified_session(manager).post(PAGE, {"name": "  "})

    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_a_revoked_token_stops_working(manager, practice):
    token, key = api_token_create(practice=practice, name="Old sync")

    response = verified_session(manager).post(f"{PAGE}{token.pk}/revoke/")

    assert response.status_code == 302
    assert api_token_authenticate(key) is None


@pytest.mark.parametrize("persona", ["front_desk", "clinician_user", "biller"])
def test_only_managers_see_or_revoke_tokens(request, persona, practice):
    token, key = api_token_create(practice=practice, name="EHR sync")
    web = verified_session(request.getfixturevalue(persona))

    assert web.get(PAGE).status_code == 403
    assert web.post(f"{PAGE}{token.pk}/revoke/").status_code == 403
    assert api_token_authenticate(key) == token


def test_another_practices_manager_cannot_revoke_or_see_a_token(other_manager, practice):
    token, key = api_token_create(practice=practice, name="Lakeside billing bridge")
    web = verified_session(other_manager)

    page = web.get(PAGE).content.decode()
    assert "Lakeside billing bridge" not in page and token.prefix not in page
    assert web.post(f"{PAGE}{token.pk}/revoke/").status_code == 404
    assert api_token_authenticate(key) == token

"""The "Operators" group (practice/migrations/0010): what a non-superuser operator may do."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def test_the_operators_group_exists_with_scoped_console_rights():
    group = Group.objects.get(name="Operators")
    codenames = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert ("practice", "view_client") in codenames
    assert ("practice", "change_membership") in codenames
    assert ("scheduling", "add_weeklyhours") in codenames
    assert ("messaging", "change_step") in codenames
    # Never: deleting practices or clients, or touching the audit log.
    assert ("practice", "delete_practice") not in codenames
    assert ("practice", "delete_client") not in codenames
    assert not any(app == "auditlog" for app, _ in codenames)

"""The "Operators" group: what an operator who is not a superuser needs in the console.

The console scopes every list to the operator's own practices (practice/admin.py,
PracticeScopedAdminMixin); these permissions decide what they may do there. Operators are
``is_staff`` users added to this group (docs/administration.md). The permission list is frozen
here on purpose: a later migration that adds a model adds its permissions to the group too.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Operators"

# app label -> model -> actions. View everything the console shows; change the settings and
# records operators look after; add and delete only where that is an everyday task.
PERMISSIONS = {
    "practice": {
        "practice": ["view", "change"],
        "membership": ["view", "add", "change", "delete"],
        "user": ["view", "add", "change"],
        "clinicianprofile": ["view", "add", "change"],
        "client": ["view", "add", "change"],
        "apitoken": ["view", "change"],
        "consentevent": ["view"],
        "invitation": ["view"],
    },
    "scheduling": {
        "servicetype": ["view", "add", "change"],
        "series": ["view", "change"],
        "appointment": ["view", "change"],
        "appointmentparticipant": ["view", "change"],
        "followup": ["view", "change"],
        "appointmentactivity": ["view"],
        "managelink": ["view"],
        "weeklyhours": ["view", "add", "change", "delete"],
        "timeoff": ["view", "add", "change", "delete"],
        "ehrwebhooksecret": ["view"],
        "ehrwebhookevent": ["view"],
    },
    "telehealth": {
        "meeting": ["view", "change"],
        "joinlink": ["view"],
        "joinevent": ["view"],
        "techcheckresult": ["view"],
    },
    "messaging": {
        "sequence": ["view", "change"],
        "step": ["view", "change"],
        "outboxmessage": ["view", "change"],
        "deliveryreport": ["view"],
        "dispatcherheartbeat": ["view"],
        "pushsubscription": ["view"],
        "stepoverride": ["view", "change"],
        "surveyresponse": ["view"],
        "holdoutassignment": ["view"],
    },
    "integrations": {
        "webhookendpoint": ["view", "change"],
        "webhookevent": ["view"],
        "webhookdelivery": ["view", "change"],
        "calendarfeed": ["view", "change"],
    },
}


def create_group(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = []
    for app_label, models in PERMISSIONS.items():
        for model, actions in models.items():
            for action in actions:
                permission = Permission.objects.filter(
                    content_type__app_label=app_label, codename=f"{action}_{model}"
                ).first()
                if permission is not None:
                    wanted.append(permission)
    group.permissions.add(*wanted)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0009_team_administration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("scheduling", "0011_idempotency_purge_schedule"),
        ("telehealth", "0002_meetings_sweep_schedule"),
        ("messaging", "0012_spanish_texts_with_session_link"),
        ("integrations", "0002_delivery_schedule"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]

"""The API's message endpoints (docs/api.md, "Messages"): what the reminder engine planned,
sent, skipped or failed, with state and reason, never message text.

Here rather than in scheduling/api because messaging reads scheduling, not the other way round:
these views build on the API's base (scheduling.api.views.ApiView) and are mounted under
/api/v1/ by messaging/api_urls.py, included from the project URLconf.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.response import Response

from messaging.models import Channel, OutboxMessage, OutboxState
from messaging.services import message_timeline, timeline_entry
from scheduling.api.serializers import AwareDateTimeField, IdField, page_serializer
from scheduling.api.views import (
    NOT_FOUND,
    ApiView,
    PageSerializer,
    appointments_of,
    document,
)


class MessageSerializer(serializers.Serializer):
    """One message of the outbox, as ``messaging.services.timeline_entry`` gives it."""

    id = serializers.IntegerField()
    appointment = serializers.IntegerField()
    kind = serializers.CharField(help_text="The step's key, or a one-off notice such as cancellation_notice.")
    step = serializers.CharField()
    recipient = serializers.CharField(help_text="“clinician”, or the client's first or preferred name.")
    channel = serializers.ChoiceField(choices=Channel.choices)
    state = serializers.ChoiceField(choices=OutboxState.choices)
    reason = serializers.CharField(allow_blank=True, help_text="Why it was skipped, withdrawn or failed.")
    due_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()

    class Meta:
        ref_name = "Message"

    def to_representation(self, instance):
        if isinstance(instance, OutboxMessage):
            instance = timeline_entry(instance)
        return super().to_representation(instance)


MessagePageSerializer = page_serializer(MessageSerializer, "MessagePage")


class AppointmentTimelineApi(ApiView):
    class OutputSerializer(serializers.Serializer):
        results = MessageSerializer(many=True)

        class Meta:
            ref_name = "Timeline"

    @document(
        "appointments_timeline",
        "Every message planned, sent, skipped or failed for an appointment",
        tags=["appointments"],
        responses={200: OutputSerializer, **NOT_FOUND},
    )
    def get(self, request, pk: int):
        entries = message_timeline(appointment=self.get_scoped(appointments_of(self.practice), pk))
        return Response(AppointmentTimelineApi.OutputSerializer({"results": entries}).data)


class MessageListApi(ApiView):
    class FilterSerializer(PageSerializer):
        appointment = IdField(required=False)
        state = serializers.ChoiceField(required=False, choices=OutboxState.choices)
        channel = serializers.ChoiceField(required=False, choices=Channel.choices)
        due_after = AwareDateTimeField(required=False, help_text="Due at or after this.")
        due_before = AwareDateTimeField(required=False, help_text="Due before this.")

        class Meta:
            ref_name = "MessageListFilter"

    LOOKUPS = {
        "appointment": "appointment_id",
        "state": "state",
        "channel": "channel",
        "due_after": "due_at__gte",
        "due_before": "due_at__lt",
    }

    @document(
        "messages_list",
        "List the practice's messages",
        description="Reminders and notices in the outbox, by due time: state (planned, sent, delivered, "
        "skipped, failed, …) and the reason. Message text is never included.",
        tags=["messages"],
        parameters=[FilterSerializer],
        responses={200: MessagePageSerializer},
    )
    def get(self, request):
        messages = (
            OutboxMessage.objects.for_practice(self.practice)
            .select_related("step", "participant__client")
            .order_by("due_at", "pk")
        )
        return self.filtered_page(
            messages, MessageListApi.FilterSerializer, MessageListApi.LOOKUPS, MessageSerializer
        )

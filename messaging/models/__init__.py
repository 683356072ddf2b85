"""The messaging app's models, one module per concern; all are importable from here.

- ``engine``: sequences and steps (with the practice's quiet hours and languages), the outbox of
  planned messages, delivery reports, the dispatcher heartbeat and holdout assignments (F18).
- ``preferences``: a client's own preferences and the links to their preference page (F13).
- ``push``: web-push subscriptions.
- ``overrides``: steps a clinician switched off for a client or a session (F14).
- ``after_session``: the after-session page's links and the satisfaction survey (F9 step 8).
"""

from messaging.models.after_session import AfterSessionLink, SurveyResponse
from messaging.models.engine import (
    MAX_HOLDOUT_PERCENT,
    PENDING_STATES,
    Anchor,
    Audience,
    Channel,
    Condition,
    DeliveryReport,
    DispatcherHeartbeat,
    HoldoutAssignment,
    OutboxMessage,
    OutboxQuerySet,
    OutboxState,
    Sequence,
    Step,
    default_languages,
)
from messaging.models.overrides import StepOverride
from messaging.models.preferences import ClientPreferences, PreferenceLink, clock_in_window
from messaging.models.push import PushSubscription

__all__ = [
    "MAX_HOLDOUT_PERCENT",
    "PENDING_STATES",
    "AfterSessionLink",
    "Anchor",
    "Audience",
    "Channel",
    "ClientPreferences",
    "Condition",
    "DeliveryReport",
    "DispatcherHeartbeat",
    "HoldoutAssignment",
    "OutboxMessage",
    "OutboxQuerySet",
    "OutboxState",
    "PreferenceLink",
    "PushSubscription",
    "Sequence",
    "Step",
    "StepOverride",
    "SurveyResponse",
    "clock_in_window",
    "default_languages",
]

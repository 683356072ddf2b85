"""A client's messaging preferences and the links to their preference page (SPEC F13).

Written through ``messaging.preferences`` only.

SMS consent itself is not here: it lives on the client row (``Client.sms_consent_*``) with its
history in ``practice.ConsentEvent``, because the dispatcher and staff pages already read it there.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.db import models

from practice.models import Client, Practice, PracticeScopedQuerySet


class ClientPreferences(models.Model):
    """Quiet hours and the optional reminders a client switched off. No row: no preferences."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="message_preferences")
    # The client's local wall clock (Client.zoneinfo()); an end before the start spans midnight.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    # Keys of steps (messaging.preferences.OPTIONAL_STEP_KEYS) the client does not want.
    opted_out_steps = models.JSONField(default=list, blank=True)
    # The language of their messages (messaging.languages); empty: the practice's default.
    language = models.CharField(max_length=8, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "client preferences"

    def __str__(self) -> str:
        return f"Message preferences of client #{self.client_id}"

    @property
    def has_quiet_hours(self) -> bool:
        return (
            self.quiet_start is not None and self.quiet_end is not None and self.quiet_start != self.quiet_end
        )

    def quiet_at(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether the aware moment ``at`` falls in the quiet hours on the wall clock of ``tz``."""
        if not self.has_quiet_hours:
            return False
        return clock_in_window(at.astimezone(tz).time(), self.quiet_start, self.quiet_end)


def clock_in_window(clock: time, start: time, end: time) -> bool:
    """start <= clock < end, where a window with end <= start runs across midnight."""
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


class PreferenceLinkQuerySet(models.QuerySet):
    def valid(self, now: datetime):
        return self.filter(expires_at__gt=now)


class PreferenceLink(models.Model):
    """An opaque, expiring link to a client's preference page: /p/<token>.

    The token is 192 random bits handed out once (rendered into a message) and never stored:
    only its SHA-256 is, so a copy of the database opens no one's page."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="preference_links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = PreferenceLinkQuerySet.as_manager()

    class Meta:
        indexes = [
            # Read by messaging.preferences.preference_links_prune.
            models.Index(fields=["expires_at"], name="preference_link_expiry"),
        ]

    def __str__(self) -> str:
        return f"Preference link of client #{self.client_id} until {self.expires_at:%Y-%m-%d}"

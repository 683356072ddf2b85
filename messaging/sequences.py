"""A practice's reminder sequence, created with the default steps on first use.

Read by planning, dispatch (through the preference rules) and the settings pages; kept apart from
messaging.services so that the modules the dispatcher imports never reach the planning services.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from messaging.defaults import DEFAULT_STEPS
from messaging.models import Sequence, Step
from practice.models import Practice


def sequence_for(practice: Practice) -> Sequence:
    """The practice's sequence, created with the default steps (SPEC F9) on first use."""
    sequence = Sequence.objects.filter(practice=practice).first()
    if sequence is not None:
        return sequence
    try:
        with transaction.atomic():
            sequence = Sequence.objects.create(practice=practice)
            Step.objects.bulk_create(
                Step(sequence=sequence, position=index, **fields)
                for index, fields in enumerate(DEFAULT_STEPS)
            )
    except IntegrityError:
        # Another worker made it at the same moment.
        sequence = Sequence.objects.get(practice=practice)
    return sequence

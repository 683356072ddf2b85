"""Matching a new client to a clinician (SPEC F4): hard filters, then a score, each match with one
line that says why it fits.

Pure functions over plain values, so the rules are tested with hand-built fixtures of known
answers. The booking page reads the practice's clinicians into ``Candidate`` values (a handful
per practice) and asks ``rank``.

Hard filters (a clinician who fails one is not shown): accepting new clients, the client's
payer, the state the client is in (licensure), the client's age group, the modality.
Score over the rest: each concern the clinician works with, their language, and how soon they
have open times in the next two weeks. Among equal scores the clinician with more free
time this month comes first, so new clients spread over the team (fair caseloads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

CONCERN_POINTS = 3
LANGUAGE_POINTS = 4
AVAILABLE_POINTS = 2
# Up to one more point for having many open times to choose from (saturates at this count).
PLENTY_OF_TIMES = 10


@dataclass(frozen=True)
class Needs:
    """What the client told the booking page. Empty values mean "no preference"."""

    concern_ids: frozenset[int] = frozenset()
    modality: str = ""
    language: str = ""
    payer_id: int | None = None
    age_group: str = ""
    state: str = ""


@dataclass(frozen=True)
class Candidate:
    clinician_id: int
    name: str
    accepting: bool
    concerns: dict[int, str] = field(default_factory=dict)  # id -> name
    languages: frozenset[str] = frozenset()  # lower case
    modalities: frozenset[str] = frozenset()
    payer_ids: frozenset[int] = frozenset()
    age_groups: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    open_times: int = 0  # open starts for a new client in the next two weeks
    free_hours_this_month: float = 0.0


@dataclass(frozen=True)
class Match:
    clinician_id: int
    name: str
    score: float
    why: str


def passes_hard_filters(needs: Needs, candidate: Candidate) -> bool:
    if not candidate.accepting:
        return False
    if needs.payer_id is not None and needs.payer_id not in candidate.payer_ids:
        return False
    if needs.state and needs.state not in candidate.states:
        return False
    if needs.age_group and needs.age_group not in candidate.age_groups:
        return False
    return not (needs.modality and needs.modality not in candidate.modalities)


def score(needs: Needs, candidate: Candidate) -> tuple[float, list[str]]:
    """The score and the reasons, in the order a person reads them."""
    reasons = []
    points = 0.0
    shared = [
        name for concern_id, name in sorted(candidate.concerns.items()) if concern_id in needs.concern_ids
    ]
    if shared:
        points += CONCERN_POINTS * len(shared)
        reasons.append(
            _("works with %(concerns)s") % {"concerns": _and_list([name.lower() for name in shared])}
        )
    language = needs.language.strip().lower()
    if language and language != "english" and language in candidate.languages:
        points += LANGUAGE_POINTS
        reasons.append(_("speaks %(language)s") % {"language": needs.language.strip().title()})
    if candidate.open_times:
        points += AVAILABLE_POINTS + min(candidate.open_times, PLENTY_OF_TIMES) / PLENTY_OF_TIMES
        count = candidate.open_times
        reasons.append(
            ngettext(
                "%(count)s open time in the next two weeks",
                "%(count)s open times in the next two weeks",
                count,
            )
            % {"count": count}
        )
    else:
        reasons.append(_("no open times in the next two weeks yet"))
    return points, reasons


def rank(needs: Needs, candidates: list[Candidate]) -> list[Match]:
    """Matching clinicians, best first; ties go to more free time this month, then the name."""
    scored = []
    for candidate in candidates:
        if not passes_hard_filters(needs, candidate):
            continue
        points, reasons = score(needs, candidate)
        scored.append((-points, -candidate.free_hours_this_month, candidate.name, candidate, reasons))
    scored.sort(key=lambda row: row[:3])
    return [
        Match(
            clinician_id=candidate.clinician_id,
            name=candidate.name,
            score=-negative_points,
            why=_sentence(reasons),
        )
        for negative_points, _free, _name, candidate, reasons in scored
    ]


def _and_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return _("%(first)s and %(last)s") % {"first": ", ".join(words[:-1]), "last": words[-1]}


def _sentence(reasons: list[str]) -> str:
    text = "; ".join(reasons)
    return text[:1].upper() + text[1:] + "."

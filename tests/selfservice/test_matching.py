"""Matching rules with fixtures of known answers (selfservice.matching is pure)."""

from __future__ import annotations

from selfservice.matching import Candidate, Needs, passes_hard_filters, rank

ANXIETY, DEPRESSION, COUPLES = 1, 2, 3
SELF_PAY, AETNA = 10, 11


def clinician(clinician_id, name, **overrides) -> Candidate:
    values = dict(
        clinician_id=clinician_id,
        name=name,
        accepting=True,
        concerns={ANXIETY: "Anxiety", DEPRESSION: "Depression"},
        languages=frozenset({"english"}),
        modalities=frozenset({"telehealth", "in_person"}),
        payer_ids=frozenset({SELF_PAY, AETNA}),
        age_groups=frozenset({"adult"}),
        states=frozenset({"NY", "NJ"}),
        open_times=5,
        free_hours_this_month=20,
    )
    values.update(overrides)
    return Candidate(**values)


def test_hard_filters_remove_who_cannot_see_the_client():
    needs = Needs(payer_id=AETNA, state="NY", age_group="adult", modality="telehealth")
    assert passes_hard_filters(needs, clinician(1, "A"))
    assert not passes_hard_filters(needs, clinician(1, "A", accepting=False))
    assert not passes_hard_filters(needs, clinician(1, "A", payer_ids=frozenset({SELF_PAY})))
    assert not passes_hard_filters(needs, clinician(1, "A", states=frozenset({"CA"})))
    assert not passes_hard_filters(needs, clinician(1, "A", age_groups=frozenset({"child"})))
    assert not passes_hard_filters(needs, clinician(1, "A", modalities=frozenset({"in_person"})))


def test_no_preference_filters_nothing_but_accepting():
    assert passes_hard_filters(Needs(), clinician(1, "A", states=frozenset(), payer_ids=frozenset()))
    assert not passes_hard_filters(Needs(), clinician(1, "A", accepting=False))


def test_language_outweighs_one_concern_and_each_match_says_why():
    """A client who asks for sessions in Spanish is best served in Spanish; after that, the more
    of their concerns a clinician works with, the better."""
    needs = Needs(concern_ids=frozenset({COUPLES, ANXIETY}), language="Spanish")
    generalist = clinician(1, "Dr. Gray")
    couples = clinician(2, "Dr. Cruz", concerns={COUPLES: "Couples", ANXIETY: "Anxiety"})
    spanish = clinician(3, "Dr. Ruiz", languages=frozenset({"english", "spanish"}))
    ranked = rank(needs, [generalist, couples, spanish])
    assert [match.name for match in ranked] == ["Dr. Ruiz", "Dr. Cruz", "Dr. Gray"]
    assert ranked[0].why == "Works with anxiety; speaks Spanish; 5 open times in the next two weeks."
    assert ranked[1].why == "Works with anxiety and couples; 5 open times in the next two weeks."


def test_availability_counts_and_ties_go_to_the_one_with_more_free_time():
    needs = Needs(concern_ids=frozenset({ANXIETY}))
    busy = clinician(1, "Dr. Busy", free_hours_this_month=3)
    free = clinician(2, "Dr. Free", free_hours_this_month=30)
    none_open = clinician(3, "Dr. Full", open_times=0, free_hours_this_month=50)
    ranked = rank(needs, [busy, none_open, free])
    assert [match.name for match in ranked] == ["Dr. Free", "Dr. Busy", "Dr. Full"]
    assert ranked[2].why.endswith("no open times in the next two weeks yet.")


def test_english_is_not_a_reason_everyone_speaks_it():
    ranked = rank(Needs(language="English"), [clinician(1, "A", open_times=1)])
    assert ranked[0].why == "1 open time in the next two weeks."

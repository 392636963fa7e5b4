"""Order and bedside safety stops (docs/clinical-rules.md §A9-A10), at every boundary, with plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.stops import Kind, Overrider, Stage
from infusions import safety_rules as rules
from infusions.safety_rules import AntiIgaAntibodies, BedsideRate, PreviousCourse, ProductSafety, SevereReaction

pytestmark = pytest.mark.unit

D = Decimal
TODAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def codes(stops):
    return [(stop.code, str(stop.kind)) for stop in stops]


# --- v1's refusals carry codes -----------------------------------------------------------------------------


def test_a_non_emergency_order_is_not_verified_without_the_iga_result() -> None:
    assert codes(rules.iga_result_missing(iga_known=False, emergency=False)) == [("iga_result_missing", "hard")]
    assert rules.iga_result_missing(iga_known=False, emergency=True) == []
    assert rules.iga_result_missing(iga_known=True, emergency=False) == []


@pytest.mark.parametrize("status", ["draft", "completed", "cancelled"])
def test_only_a_verified_order_is_given(status) -> None:
    assert codes(rules.order_not_verified(order_status=status)) == [("order_not_verified", "hard")]


@pytest.mark.parametrize("status", ["verified", "in_progress"])
def test_a_verified_or_running_course_may_be_given(status) -> None:
    assert rules.order_not_verified(order_status=status) == []


def test_an_incomplete_checklist_names_what_is_missing_on_its_field() -> None:
    [stop] = rules.checklist_incomplete(missing_items=["IgA result reviewed"])
    assert (stop.code, stop.field) == ("checklist_incomplete", "checklist")
    assert "IgA result reviewed" in stop.message


# --- A9 order stops ----------------------------------------------------------------------------------------


def test_a_second_open_course_for_one_patient_is_refused() -> None:
    [stop] = rules.active_course(other_open_orders=[7], replaces=None)
    assert (stop.code, stop.kind) == ("active_course", Kind.HARD)
    assert "#7" in stop.message


def test_an_emergency_order_replacing_the_open_order_is_not_refused() -> None:
    assert rules.active_course(other_open_orders=[7], replaces=7) == []
    assert codes(rules.active_course(other_open_orders=[7, 8], replaces=7)) == [("active_course", "hard")]


@pytest.mark.parametrize(
    ("offset_days", "emergency", "stage", "refused"),
    [
        (-1, False, Stage.CREATE, True),
        (0, False, Stage.CREATE, False),
        (30, False, Stage.CREATE, False),
        (31, False, Stage.CREATE, True),
        (-1, True, Stage.CREATE, False),  # an emergency order may be dated yesterday
        (-2, True, Stage.CREATE, True),
        (-1, True, Stage.VERIFY, True),  # at verification never before today
        (0, True, Stage.VERIFY, False),
    ],
)
def test_the_first_infusion_date_runs_from_today_to_thirty_days_ahead(offset_days, emergency, stage, refused) -> None:
    stops = rules.first_infusion_date(
        first_infusion_on=TODAY + timedelta(days=offset_days), today=TODAY, emergency=emergency, stage=stage
    )
    assert bool(stops) is refused
    assert all((s.code, s.kind, s.field) == ("first_infusion_date", Kind.HARD, "first_infusion_on") for s in stops)


def test_a_first_infusion_in_the_year_2000_is_refused() -> None:
    [stop] = rules.first_infusion_date(
        first_infusion_on=date(2000, 1, 1), today=TODAY, emergency=False, stage=Stage.CREATE
    )
    assert "2000-01-01 is in the past" in stop.message


@pytest.mark.parametrize(
    ("age_days", "stage", "expected"),
    [
        (30, Stage.CREATE, []),
        (31, Stage.CREATE, [("weight_stale", "warning")]),
        (30, Stage.VERIFY, []),
        (31, Stage.VERIFY, [("weight_stale", "hard")]),
        (31, Stage.START, [("weight_stale", "hard")]),
    ],
)
def test_a_weight_more_than_thirty_days_old_on_the_first_infusion_date_warns_then_refuses(
    age_days, stage, expected
) -> None:
    stops = rules.weight_stale(
        weight_measured_on=TODAY - timedelta(days=age_days), first_infusion_on=TODAY, stage=stage
    )
    assert codes(stops) == expected


def iga(**overrides):
    values = {
        "iga_deficient": True,
        "anti_iga_antibodies": AntiIgaAntibodies.UNKNOWN,
        "product_iga_depleted": False,
        "product_name": "Privigen",
        "age_years": 40,
        "fingerprint": "iga2:p1",
    }
    return rules.iga_conflict(**{**values, **overrides})


def test_an_iga_deficient_patient_with_unknown_antibodies_needs_a_hematologists_reason_for_a_non_depleted_product():
    [stop] = iga()
    assert (stop.kind, stop.overrider, stop.fingerprint) == (Kind.OVERRIDE, Overrider.HEMATOLOGIST, "iga2:p1")


def test_anti_iga_antibodies_positive_refuse_a_non_depleted_product_outright() -> None:
    assert codes(iga(anti_iga_antibodies=AntiIgaAntibodies.POSITIVE)) == [("iga_conflict", "hard")]


def test_anti_iga_antibodies_negative_leave_only_a_warning() -> None:
    assert codes(iga(anti_iga_antibodies=AntiIgaAntibodies.NEGATIVE)) == [("iga_conflict", "warning")]


@pytest.mark.parametrize(("age", "kind"), [(3, "warning"), (4, "override")])
def test_under_four_years_a_low_iga_is_low_for_age_not_deficiency(age, kind) -> None:
    [stop] = iga(age_years=age)
    assert str(stop.kind) == kind


def test_no_iga_conflict_for_a_depleted_product_or_a_normal_iga() -> None:
    assert iga(product_iga_depleted=True) == []
    assert iga(iga_deficient=False) == []
    assert iga(iga_deficient=None) == []


def previous(**overrides):
    values = {"order_id": 4, "status": "completed", "any_infusion_given": True, "non_response_flag": True}
    return PreviousCourse(**{"is_repeat": False, **values, **overrides})


def test_a_repeat_after_a_completed_course_with_its_non_response_flag_is_indicated() -> None:
    assert rules.repeat_not_indicated(regimen="repeat_1g_per_kg", previous=previous()) == []


@pytest.mark.parametrize(
    "course",
    [
        {"status": "draft", "any_infusion_given": False},
        {"status": "verified", "any_infusion_given": False},
        {"status": "cancelled", "any_infusion_given": False},
        {"non_response_flag": False},
    ],
)
def test_a_repeat_pointing_at_a_course_not_ended_or_not_failed_needs_a_hematologists_reason(course) -> None:
    [stop] = rules.repeat_not_indicated(regimen="repeat_1g_per_kg", previous=previous(**course))
    assert (stop.code, stop.overrider, stop.field) == ("repeat_not_indicated", Overrider.HEMATOLOGIST, "previous_order")


def test_a_repeat_after_a_course_cancelled_once_given_is_indicated() -> None:
    course = previous(status="cancelled", any_infusion_given=True)
    assert rules.repeat_not_indicated(regimen="repeat_1g_per_kg", previous=course) == []


def test_a_repeat_of_a_repeat_needs_a_hematologists_reason() -> None:
    assert codes(rules.repeat_chain(regimen="repeat_1g_per_kg", previous=previous(is_repeat=True))) == [
        ("repeat_chain", "override")
    ]
    assert rules.repeat_chain(regimen="repeat_1g_per_kg", previous=previous()) == []


def test_a_severe_reaction_before_needs_a_hematologists_reason_bound_to_those_reactions() -> None:
    reactions = [
        SevereReaction("reaction3", date(2026, 5, 1), "Privigen", 3, False),
        SevereReaction("history1", date(2025, 1, 1), "Octagam 10 %", None, True),
    ]
    [stop] = rules.previous_severe_reaction(reactions=reactions)
    assert (stop.overrider, stop.fingerprint) == (Overrider.HEMATOLOGIST, "history1,reaction3")
    assert stop.message.index("2025-01-01") < stop.message.index("2026-05-01")
    assert rules.previous_severe_reaction(reactions=[]) == []


@pytest.mark.parametrize(("dose", "raised"), [(D("100"), False), (D("100.01"), True), (D("350"), True)])
def test_a_daily_dose_above_100_g_needs_the_verifiers_reason(dose, raised) -> None:
    stops = rules.high_dose(rounded_dose_per_day_g=dose)
    assert bool(stops) is raised
    assert all(stop.overrider is Overrider.VERIFIER for stop in stops)


@pytest.mark.parametrize(
    ("override", "refused"),
    [
        (D("0.5"), True),  # an 82 kg man dosed as 0.5 kg
        (D("40.9"), True),
        (D("41"), False),  # half of 82 kg, below his IBW of 73.2 kg
        (D("82"), False),
        (D("82.1"), True),
    ],
)
def test_a_dosing_weight_override_runs_from_the_lower_of_ibw_and_half_the_weight_to_the_actual_weight(
    override, refused
) -> None:
    stops = rules.dosing_weight_override_range(override_kg=override, actual_kg=D("82"), ideal_kg=D("73.2"))
    assert bool(stops) is refused
    assert all((s.kind, s.field) == (Kind.HARD, "dosing_weight_override_kg") for s in stops)


def product(**overrides):
    values = {
        "name": "Gammagard S/D",
        "itp_min_age_years": None,
        "contains_sorbitol": False,
        "contains_maltose": False,
        "contains_glucose": False,
        "missing_rate_values": (),
        "needs_prepared_concentration": False,
    }
    return ProductSafety(**{**values, **overrides})


def test_a_product_without_an_initial_rate_or_itp_maximum_is_not_verified_or_started() -> None:
    [stop] = rules.rate_plan_incomplete(
        product=product(missing_rate_values=("initial rate", "ITP maximum")), prepared_concentration_percent=None
    )
    assert (stop.code, stop.kind) == ("rate_plan_incomplete", Kind.HARD)
    assert "initial rate, ITP maximum unknown" in stop.message


def test_gammagard_sd_needs_its_prepared_concentration_on_the_order() -> None:
    needs = product(needs_prepared_concentration=True)
    assert codes(rules.rate_plan_incomplete(product=needs, prepared_concentration_percent=None)) == [
        ("rate_plan_incomplete", "hard")
    ]
    assert rules.rate_plan_incomplete(product=needs, prepared_concentration_percent=D("5")) == []


def test_an_order_drafted_before_the_site_values_were_recorded_is_not_verified_until_recalculated() -> None:
    [stop] = rules.rate_plan_incomplete(
        product=product(), prepared_concentration_percent=None, order_has_rate_plan=False
    )
    assert (stop.code, stop.kind) == ("rate_plan_incomplete", Kind.HARD)
    assert "recalculates" in stop.message
    assert rules.rate_plan_incomplete(product=product(), prepared_concentration_percent=None) == []


@pytest.mark.parametrize(("age", "warned"), [(17, True), (18, False)])
def test_below_the_labels_lower_age_for_itp_is_a_warning(age, warned) -> None:
    stops = rules.label_age(product=product(itp_min_age_years=18), age_years=age)
    assert codes(stops) == ([("label_age", "warning")] if warned else [])


def test_sorbitol_with_hereditary_fructose_intolerance_is_refused() -> None:
    sorbitol = product(contains_sorbitol=True, name="Flebogamma 10 % DIF")
    assert codes(rules.fructose_intolerance(product=sorbitol, hereditary_fructose_intolerance=True)) == [
        ("fructose_intolerance", "hard")
    ]
    assert rules.fructose_intolerance(product=product(), hereditary_fructose_intolerance=True) == []


@pytest.mark.parametrize(("age", "raised"), [(1, True), (2, False)])
def test_sorbitol_under_two_years_needs_a_hematologist_to_exclude_fructose_intolerance(age, raised) -> None:
    stops = rules.sorbitol_under_2(product=product(contains_sorbitol=True), age_years=age)
    assert codes(stops) == ([("sorbitol_under_2", "override")] if raised else [])


def test_maltose_and_glucose_products_warn() -> None:
    assert codes(rules.maltose_interference(product=product(contains_maltose=True))) == [
        ("maltose_interference", "warning")
    ]
    assert codes(rules.glucose_load(product=product(contains_glucose=True), diabetes=True)) == [
        ("glucose_load", "warning")
    ]
    assert rules.glucose_load(product=product(contains_glucose=True), diabetes=False) == []


# --- A10 bedside stops -------------------------------------------------------------------------------------

PLAN = BedsideRate(
    steps_ml_per_h=(D("42"), D("84"), D("168"), D("336")),
    label_max_ml_per_h=D("336"),
    design_cap_ml_per_h=None,
    step_interval_min=30,
)
AT_RISK = BedsideRate(
    steps_ml_per_h=(D("42"), D("84"), D("168")),
    label_max_ml_per_h=D("336"),
    design_cap_ml_per_h=D("168"),
    step_interval_min=30,
)


def test_a_course_on_hold_is_not_started() -> None:
    [stop] = rules.course_on_hold(hold_reason="anaphylaxis on day 1")
    assert (stop.kind, "anaphylaxis on day 1" in stop.message) == (Kind.HARD, True)
    assert rules.course_on_hold(hold_reason=None) == []


@pytest.mark.parametrize(("start", "raised"), [(date(2026, 11, 30), True), (TODAY, False), (date(2026, 12, 2), False)])
def test_a_start_before_the_scheduled_day_needs_the_nurses_reason(start, raised) -> None:
    stops = rules.before_scheduled_day(scheduled_for=TODAY, start_date=start)
    assert codes(stops) == ([("before_scheduled_day", "override")] if raised else [])


@pytest.mark.parametrize(
    ("gap", "g_per_kg", "raised"),
    [
        (timedelta(hours=1), D("1"), True),
        (timedelta(hours=8) - timedelta(seconds=1), D("1"), True),
        (timedelta(hours=8), D("1"), False),
        (timedelta(hours=1), D("0.4"), False),  # five days of 0.4 g/kg may run closer together
    ],
)
def test_day_two_of_a_one_gram_course_starts_at_least_eight_hours_after_day_one_ended(gap, g_per_kg, raised) -> None:
    stops = rules.too_soon_after_previous_day(
        previous_day_ended_at=NOON - gap, start_at=NOON, g_per_kg_per_day=g_per_kg
    )
    assert codes(stops) == ([("too_soon_after_previous_day", "override")] if raised else [])
    assert all(stop.overrider is Overrider.HEMATOLOGIST for stop in stops)


@pytest.mark.parametrize(("minutes", "raised"), [(60, False), (61, True)])
def test_a_baseline_more_than_an_hour_old_is_taken_again(minutes, raised) -> None:
    stops = rules.baseline_stale(baseline_taken_at=NOON - timedelta(minutes=minutes), start_at=NOON)
    assert codes(stops) == ([("baseline_stale", "hard")] if raised else [])


def test_a_baseline_with_a_high_alert_needs_the_nurse_to_name_the_prescriber_who_agreed() -> None:
    [stop] = rules.baseline_high_alert(baseline_alert_codes=["hypotension"])
    assert (stop.kind, stop.overrider) == (Kind.OVERRIDE, Overrider.NURSE)


@pytest.mark.parametrize(
    ("rate", "plan", "expected"),
    [
        (D("336"), PLAN, []),
        (D("336.1"), PLAN, [("rate_above_max", "hard")]),
        (D("5000"), PLAN, [("rate_above_max", "hard")]),
        (D("168"), AT_RISK, []),
        (D("168.1"), AT_RISK, [("rate_above_at_risk_cap", "override")]),
        (D("336.1"), AT_RISK, [("rate_above_max", "hard")]),
    ],
)
def test_a_rate_above_the_labels_maximum_is_refused_and_above_the_at_risk_cap_needs_a_hematologist(
    rate, plan, expected
) -> None:
    assert codes(rules.rate_above_limits(rate_ml_per_h=rate, plan=plan)) == expected


@pytest.mark.parametrize(
    ("rate", "cautious", "expected"),
    [
        (D("42"), None, []),
        (D("42.1"), None, [("start_above_initial", "override")]),
        (D("336"), "a first-ever infusion", [("start_above_initial", "hard")]),
    ],
)
def test_a_start_above_the_initial_rate_needs_a_reason_and_never_on_a_first_ever_infusion(
    rate, cautious, expected
) -> None:
    assert codes(rules.start_above_initial(rate_ml_per_h=rate, plan=PLAN, cautious_start=cautious)) == expected


@pytest.mark.parametrize(
    ("current", "new", "raised"),
    [(D("42"), D("84"), False), (D("42"), D("84.1"), True), (D("42"), D("168"), True), (D("84"), D("42"), False)],
)
def test_an_increase_beyond_the_next_step_skips_a_step(current, new, raised) -> None:
    stops = rules.step_skips(current_ml_per_h=current, new_ml_per_h=new, plan=PLAN)
    assert codes(stops) == ([("step_skips", "override")] if raised else [])


@pytest.mark.parametrize(("minutes", "raised"), [(4, True), (29, True), (30, False)])
def test_a_step_up_sooner_than_the_products_interval_needs_the_nurses_reason(minutes, raised) -> None:
    stops = rules.step_too_early(
        current_ml_per_h=D("42"),
        new_ml_per_h=D("84"),
        last_change_at=NOON - timedelta(minutes=minutes),
        at=NOON,
        plan=PLAN,
    )
    assert codes(stops) == ([("step_too_early", "override")] if raised else [])


def test_a_rate_decrease_is_never_too_early() -> None:
    stops = rules.step_too_early(
        current_ml_per_h=D("84"), new_ml_per_h=D("42"), last_change_at=NOON, at=NOON, plan=PLAN
    )
    assert stops == []


@pytest.mark.parametrize(("minutes", "raised"), [(15, False), (16, True), (None, True)])
def test_a_step_up_needs_vital_signs_from_the_last_fifteen_minutes(minutes, raised) -> None:
    latest = None if minutes is None else NOON - timedelta(minutes=minutes)
    stops = rules.step_without_vitals(current_ml_per_h=D("42"), new_ml_per_h=D("84"), latest_vitals_at=latest, at=NOON)
    assert codes(stops) == ([("step_without_vitals", "override")] if raised else [])


def test_a_step_up_during_a_stop_alert_needs_the_nurses_reason() -> None:
    stops = rules.step_during_alert(current_ml_per_h=D("42"), new_ml_per_h=D("84"), worsened_alerts=["hypotension"])
    assert codes(stops) == [("step_during_alert", "override")]
    assert rules.step_during_alert(current_ml_per_h=D("42"), new_ml_per_h=D("84"), worsened_alerts=[]) == []


@pytest.mark.parametrize(("rate", "raised"), [(D("84"), False), (D("84.1"), True), (D("168"), True)])
def test_resuming_after_a_reaction_above_half_its_rate_needs_a_reason(rate, raised) -> None:
    stops = rules.resume_above_half(rate_ml_per_h=rate, half_reaction_rate_ml_per_h=D("84"))
    assert codes(stops) == ([("resume_above_half", "override")] if raised else [])


def test_a_resume_with_no_reaction_is_not_capped() -> None:
    assert rules.resume_above_half(rate_ml_per_h=D("336"), half_reaction_rate_ml_per_h=None) == []


@pytest.mark.parametrize(
    ("given", "raised"),
    [(D("10"), True), (D("899"), True), (D("900"), False), (D("1100"), False), (D("1101"), True), (D("6700"), True)],
)
def test_completing_more_than_ten_percent_away_from_the_planned_volume_needs_the_nurses_reason(given, raised) -> None:
    stops = rules.volume_mismatch(volume_infused_ml=given, planned_ml=D("1000"))
    assert codes(stops) == ([("volume_mismatch", "override")] if raised else [])


@given(st.decimals(min_value=D("0.1"), max_value=D("10000"), places=1))
def test_no_rate_above_the_labels_maximum_ever_passes(rate) -> None:
    stops = rules.rate_above_limits(rate_ml_per_h=rate, plan=AT_RISK)
    if rate > AT_RISK.label_max_ml_per_h:
        assert codes(stops) == [("rate_above_max", "hard")]
    elif rate <= AT_RISK.design_cap_ml_per_h:
        assert stops == []


def test_the_configuration_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        rules.SafetyConfig(min_hours_between_days=0)
    with pytest.raises(ValueError):
        rules.SafetyConfig(volume_mismatch_percent=D("100"))


@pytest.mark.parametrize(
    ("collected_hours_ago", "count", "warned"),
    [(72, 99, False), (73, 99, True), (None, 20, True), (1, 100, True), (1, 99, False)],
)
def test_an_old_untimed_or_non_itp_baseline_count_is_a_warning(collected_hours_ago, count, warned) -> None:
    collected = None if collected_hours_ago is None else NOON - timedelta(hours=collected_hours_ago)
    stops = rules.baseline_count_age(count=count, collected_at=collected, reference=NOON)
    assert codes(stops) == ([("baseline_count_age", "warning")] if warned else [])


def test_a_plan_on_the_site_default_step_interval_says_so() -> None:
    assert codes(rules.step_interval_default(product=product(step_interval_known=False), default_minutes=30)) == [
        ("step_interval_default", "warning")
    ]
    assert rules.step_interval_default(product=product(), default_minutes=30) == []


@pytest.mark.parametrize(("other", "warned"), [(D("82.5"), False), (D("83"), True), (D("67"), True)])
def test_a_dose_more_than_ten_percent_away_on_the_other_side_of_a_threshold_warns(other, warned) -> None:
    stops = rules.near_policy_threshold(rounded_dose_per_day_g=D("75"), other_side=[("height", other)])
    assert codes(stops) == ([("near_policy_threshold", "warning")] if warned else [])


# --- vial_mismatch (A10) -----------------------------------------------------------------------------------

ORDERED = 1
OTHER = 2


def vial(size="10", *, product_id=ORDERED, expiry=TODAY, lot="A1", sizes=("5", "10", "20"), gtin=None):
    return rules.VialGiven(
        product_id=product_id,
        product_name="Privigen" if product_id == ORDERED else "Octagam 10%",
        product_sizes_g=frozenset(D(s) for s in sizes),
        vial_size_g=D(size) if size is not None else None,
        lot_number=lot,
        expiry_date=expiry,
        gtin=gtin,
    )


def mismatch(vials, *, planned="20", planned_vials=None, ordered=(ORDERED,)):
    return rules.vial_mismatch(
        vials=vials,
        order_product_ids=frozenset(ordered),
        order_product_name="Privigen",
        planned_g=D(planned),
        planned_vials_g=D(planned_vials or planned),
        on=TODAY,
    )


def test_the_planned_vials_are_given() -> None:
    assert mismatch([vial("10"), vial("10")]) == []


def test_other_sizes_with_the_same_total_are_fine() -> None:
    assert mismatch([vial("20")]) == []
    assert mismatch([vial("5"), vial("5"), vial("10")]) == []


@pytest.mark.parametrize(("sizes", "ok"), [(("10",), False), (("10", "10", "5"), False), (("10", "5", "5"), True)])
def test_the_vials_add_up_to_the_days_grams_exactly(sizes, ok) -> None:
    stops = mismatch([vial(size) for size in sizes])
    assert (stops == []) is ok
    if not ok:
        assert codes(stops) == [("vial_mismatch", "hard")]
        assert stops[0].field == "vials"
        assert "the day needs 20 g" in stops[0].message


@pytest.mark.parametrize(
    ("sizes", "ok"), [(("10", "5"), False), (("10", "5", "5"), True), (("20",), True), (("20", "5"), False)]
)
def test_a_partial_vial_orders_excess_is_discarded(sizes, ok) -> None:
    # 17.5 g planned from 2 × 10 g vials: at least 17.5 g, at most the 20 g of the planned vials.
    stops = mismatch([vial(size) for size in sizes], planned="17.5", planned_vials="20")
    assert (stops == []) is ok
    if not ok:
        assert "the day needs 17.5-20 g" in stops[0].message


def test_another_product_is_refused_but_the_changed_product_is_given() -> None:
    stops = mismatch([vial("10", product_id=OTHER), vial("10")])
    assert codes(stops) == [("vial_mismatch", "hard")]
    assert "Octagam 10% (lot A1) is not the ordered product (Privigen)" in stops[0].message
    assert mismatch([vial("10", product_id=OTHER), vial("10")], ordered=(ORDERED, OTHER)) == []


def test_a_size_the_product_does_not_come_in_is_refused() -> None:
    stops = mismatch([vial("10"), vial("10", sizes=("5", "20"))])
    assert "does not come in 10 g vials" in stops[0].message


def test_an_expiry_before_the_infusion_date_is_refused_on_the_day_itself_is_not() -> None:
    assert mismatch([vial("10", expiry=TODAY), vial("10")]) == []
    stops = mismatch([vial("10", expiry=TODAY - timedelta(days=1)), vial("10")])
    assert "expired on 2026-11-30" in stops[0].message


def test_an_unknown_gtin_says_type_the_vial() -> None:
    stops = mismatch([vial("10", product_id=None, gtin="07612345000107"), vial("10")])
    assert "The GTIN 07612345000107 is not one of the catalogue's products: type the vial." in stops[0].message


@pytest.mark.parametrize("missing", ["size", "expiry", "lot"])
def test_every_vial_has_its_size_lot_and_expiry(missing) -> None:
    given = vial(
        "10" if missing != "size" else None,
        expiry=None if missing == "expiry" else TODAY,
        lot="" if missing == "lot" else "A1",
    )
    stops = mismatch([given, vial("10")])
    assert codes(stops) == [("vial_mismatch", "hard")]


def test_no_vials_is_a_mismatch() -> None:
    assert codes(mismatch([])) == [("vial_mismatch", "hard")]


def test_one_vials_problems_read_in_a_nurses_words() -> None:
    assert (
        rules.vial_problems(vial("10"), order_product_ids=frozenset({1}), order_product_name="Privigen", on=TODAY) == []
    )


def test_lot_numbers_alone_are_refused_or_during_the_transition_a_warning() -> None:
    assert rules.vials_not_detailed(lots_only=False, v1_compat=False) == []
    assert rules.vials_not_detailed(lots_only=False, v1_compat=True) == []
    refused = rules.vials_not_detailed(lots_only=True, v1_compat=False)
    assert codes(refused) == [("vials_missing", "hard")]
    assert refused[0].field == "vials"
    assert codes(rules.vials_not_detailed(lots_only=True, v1_compat=True)) == [("vials_not_detailed", "warning")]


# --- prehydration_not_given (§A10, §A13 "Fluid") ---------------------------------------------------------------


def prehydration(*, renal=(), thrombosis=(), cardiac=False, recorded=False):
    return rules.prehydration_not_given(
        renal_risk_factors=renal,
        thrombosis_risk_factors=thrombosis,
        cardiac_dysfunction=cardiac,
        prehydration_recorded=recorded,
    )


def test_a_start_for_a_patient_with_a_renal_risk_factor_and_no_prehydration_needs_the_nurses_reason() -> None:
    (stop,) = prehydration(renal=("diabetes",))
    assert (stop.code, stop.kind, stop.overrider) == ("prehydration_not_given", Kind.OVERRIDE, Overrider.NURSE)
    assert stop.message.startswith("Pre-hydration is due before this infusion (renal or thrombosis risk factor")
    assert "diabetes" in stop.message
    assert stop.message.endswith("record the pre-hydration as a co-therapy, or give the reason.")


def test_a_thrombosis_risk_factor_alone_asks_for_prehydration_too() -> None:
    assert codes(prehydration(thrombosis=("immobilization",))) == [("prehydration_not_given", "override")]


def test_a_start_with_a_prehydration_recorded_goes_ahead() -> None:
    assert prehydration(renal=("age over 65",), thrombosis=("estrogens",), recorded=True) == []


def test_a_patient_with_no_renal_or_thrombosis_risk_factor_needs_no_prehydration() -> None:
    assert prehydration() == []


@pytest.mark.parametrize(("renal", "thrombosis"), [(("renal impairment",), ()), ((), ("previous thrombosis",))])
def test_with_cardiac_dysfunction_fluids_are_individualised_and_the_stop_does_not_apply(renal, thrombosis) -> None:
    assert prehydration(renal=renal, thrombosis=thrombosis, cardiac=True) == []


def covers(*periods, start=NOON, config=rules.DEFAULT_CONFIG):
    return rules.prehydration_covers_start(
        periods=[rules.PrehydrationPeriod(*period) for period in periods], start_at=start, config=config
    )


@pytest.mark.parametrize(
    ("given_from", "covered"),
    [
        (NOON, True),  # given just before the start
        (NOON - timedelta(hours=12), True),  # the window's first moment
        (NOON - timedelta(hours=12, seconds=1), False),  # a bolus given more than 12 h before
        (NOON + timedelta(seconds=1), False),  # given after the start
    ],
)
def test_a_single_prehydration_dose_counts_within_the_12_hours_before_the_start(given_from, covered) -> None:
    assert covers((given_from, None)) is covered


@pytest.mark.parametrize(
    ("given_from", "given_until", "covered"),
    [
        (NOON - timedelta(hours=30), NOON - timedelta(hours=11), True),  # ended within the window
        (NOON - timedelta(hours=30), NOON - timedelta(hours=12), True),  # ended at its first moment
        (NOON - timedelta(hours=30), NOON - timedelta(hours=13), False),  # ended before it
        (NOON - timedelta(hours=2), NOON + timedelta(hours=3), True),  # still running at the start
        (NOON + timedelta(minutes=5), NOON + timedelta(hours=3), False),  # begun after the start
    ],
)
def test_a_prehydration_period_counts_when_it_runs_into_the_12_hours_before_the_start(
    given_from, given_until, covered
) -> None:
    assert covers((given_from, given_until)) is covered


def test_no_prehydration_recorded_covers_nothing() -> None:
    assert covers() is False


def test_any_one_prehydration_in_the_window_covers_the_start() -> None:
    assert covers((NOON - timedelta(days=3), None), (NOON - timedelta(hours=1), None)) is True


def test_the_prehydration_window_is_a_hospital_setting() -> None:
    six_hours = rules.SafetyConfig(prehydration_window_hours=6)
    assert covers((NOON - timedelta(hours=8), None), config=six_hours) is False
    assert covers((NOON - timedelta(hours=5), None), config=six_hours) is True
    with pytest.raises(ValueError):
        rules.SafetyConfig(prehydration_window_hours=0)

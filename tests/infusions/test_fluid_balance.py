"""The bedside fluid balance (docs/clinical-rules.md §A13 "Fluid"): kept for cardiac dysfunction, eGFR < 60, volume
depletion or sepsis from each infusion's start until the next day's start or 24 h after its end; entries through
the service, the API and the bedside page, each bad input refused in clinical words with nothing recorded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusions import services
from infusions.models import FluidEntry, Order
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, day_vials, verified_order

pytestmark = pytest.mark.db


def started(nurse, *, minutes_ago: int = 120, **patient_kwargs):
    """A day started ``minutes_ago`` at the plan's first rate, still running."""
    infusion = verified_order(**patient_kwargs).infusions.order_by("day_number").first()
    at = timezone.now() - timedelta(minutes=minutes_ago)
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=at)
    services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), started_at=at
    )
    infusion.refresh_from_db()
    return infusion


@pytest.fixture
def cardiac(db, nurse):
    return started(nurse, cardiac_dysfunction=True)


def record(infusion, nurse, **values):
    return services.record_fluid_entry(
        infusion_id=infusion.pk, user=nurse, **{"kind": "intake", "volume_ml": 250, **values}
    )


def ivig_ml(infusion, at):
    return infusion.current_rate_ml_per_h * Decimal((at - infusion.started_at).total_seconds()) / 3600


# --- Who keeps one ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "reasons"),
    [
        ({"cardiac_dysfunction": True}, ("cardiac dysfunction",)),
        ({"volume_depletion": True}, ("volume depletion",)),
        ({"sepsis": True}, ("sepsis",)),
        ({}, ()),
        ({"diabetes": True}, ()),  # a renal risk factor that is none of the four
    ],
)
def test_a_balance_is_kept_for_cardiac_dysfunction_volume_depletion_or_sepsis(db, facts, reasons):
    order = verified_order(**facts)
    assert services.fluid_balance_reasons(order) == reasons
    assert services.fluid_balance_kept(order) is bool(reasons)


def test_egfr_below_60_fixed_at_verification_keeps_a_balance_whatever_the_creatinine_since(db):
    order = verified_order()
    order.record_flags = {**order.record_flags, "egfr_below_60": True}
    assert services.fluid_balance_reasons(order) == ("eGFR below 60",)
    order.record_flags = {**order.record_flags, "egfr_below_60": False}
    assert services.fluid_balance_reasons(order) == ()


def test_an_order_verified_before_the_egfr_was_fixed_is_judged_on_the_latest_creatinine(db):
    from patients.models import LabResult

    # A 70-year-old woman with a creatinine of 200 µmol/L: eGFR far below 60.
    patient = PatientFactory(labs=False, sex="female", birth_date=timezone.localdate().replace(year=1956))
    LabResult.objects.create(
        patient=patient,
        test="creatinine",
        value_sent="200",
        unit_sent="umol/L",
        value_si=Decimal("200"),
        collected_at=timezone.now() - timedelta(days=1),
    )
    order = Order(patient=patient, record_flags={})
    assert services.fluid_balance_reasons(order) == ("eGFR below 60",)


# --- Recording an entry ----------------------------------------------------------------------------------------


def test_a_nurse_records_an_intake_and_an_output_and_the_balance_counts_the_ivig_given_so_far(cardiac, nurse):
    tea = record(cardiac, nurse, volume_ml=200, description="tea", recorded_at=timezone.now() - timedelta(minutes=90))
    urine = record(cardiac, nurse, kind="output", volume_ml=450, recorded_at=timezone.now() - timedelta(minutes=30))

    assert (tea.kind, tea.volume_ml, tea.description, tea.entered_by) == ("intake", 200, "tea", nurse)
    assert tea.history.count() == 1
    now = timezone.now()
    report = services.fluid_balance(cardiac, at=now)
    assert [(row.kind, row.volume_ml, row.intake_ml, row.output_ml) for row in report.rows] == [
        ("intake", 200, 200, 0),
        ("output", 450, 200, 450),
    ]
    assert [row.id for row in report.rows] == [tea.pk, urine.pk]
    assert report.rows[0].entered_by == nurse.username
    assert report.rows[0].ivig_ml == round(ivig_ml(cardiac, tea.recorded_at))
    assert report.ivig_ml == round(ivig_ml(cardiac, now))
    assert report.balance_ml == round(ivig_ml(cardiac, now) + 200 - 450)
    assert report.reasons == ("cardiac dysfunction",)
    assert report.closes_at is None and not report.closed


def test_an_entry_without_a_time_is_recorded_now(cardiac, nurse):
    before = timezone.now()
    entry = record(cardiac, nurse)
    assert before <= entry.recorded_at <= timezone.now()


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"volume_ml": 0}, "volume_ml", "at least 1 mL"),
        ({"volume_ml": -100}, "volume_ml", "at least 1 mL"),
        ({"volume_ml": 5001}, "volume_ml", "more than 5000 mL in one entry"),
        ({"volume_ml": "12,5"}, "volume_ml", "whole millilitres"),
        ({"volume_ml": "a cup"}, "volume_ml", "whole millilitres"),
        ({"volume_ml": ""}, "volume_ml", "Enter the volume in mL."),
        ({"volume_ml": None}, "volume_ml", "Enter the volume in mL."),
        ({"kind": "blood"}, "kind", "Choose intake or output."),
        ({"description": "x" * 201}, "description", "200 characters"),
        ({"recorded_at": "future"}, "recorded_at", "This time is in the future."),
        ({"recorded_at": "before start"}, "recorded_at", "before the infusion's start"),
    ],
)
def test_a_bad_entry_is_refused_in_clinical_words_beside_its_field_and_nothing_is_recorded(
    cardiac, nurse, values, field, words
):
    moments = {
        "future": timezone.now() + timedelta(minutes=2),
        "before start": cardiac.started_at - timedelta(minutes=1),
    }
    if "recorded_at" in values:
        values = {**values, "recorded_at": moments[values["recorded_at"]]}
    with pytest.raises(ValidationError) as refused:
        record(cardiac, nurse, **values)
    assert words in " ".join(refused.value.message_dict[field])
    assert FluidEntry.objects.count() == 0


def test_a_tablet_clock_a_few_seconds_ahead_is_accepted(cardiac, nurse):
    entry = record(cardiac, nurse, recorded_at=timezone.now() + timedelta(seconds=3))
    assert entry.pk is not None


def test_no_entry_is_recorded_for_a_patient_for_whom_no_balance_is_kept(db, nurse):
    infusion = started(nurse)
    with pytest.raises(ValidationError) as refused:
        record(infusion, nurse)
    assert refused.value.message_dict["__all__"][0].startswith("No fluid balance is kept for this patient: ")
    assert FluidEntry.objects.count() == 0
    assert services.fluid_balance(infusion) is None
    assert services.fluid_balance_ml(infusion) is None


def test_no_entry_is_recorded_before_the_infusion_starts(db, nurse):
    infusion = verified_order(sepsis=True).infusions.get()
    with pytest.raises(ValidationError) as refused:
        record(infusion, nurse)
    assert "has not started" in refused.value.message_dict["__all__"][0]
    assert FluidEntry.objects.count() == 0
    assert services.fluid_balance(infusion) is None


def test_the_balance_closes_24_hours_after_the_end_and_refuses_a_later_entry(db, nurse):
    infusion = started(nurse, minutes_ago=27 * 60, cardiac_dysfunction=True)
    ended = infusion.started_at + timedelta(hours=2)
    services.complete_infusion(infusion_id=infusion.pk, user=nurse, completed_at=ended)
    infusion.refresh_from_db()
    record(infusion, nurse, kind="output", volume_ml=300, recorded_at=ended + timedelta(hours=23, minutes=59))

    with pytest.raises(ValidationError) as refused:
        record(infusion, nurse, kind="output", volume_ml=300)
    assert "fluid balance closed at" in refused.value.message_dict["recorded_at"][0]
    assert FluidEntry.objects.count() == 1
    report = services.fluid_balance(infusion)
    assert report.closes_at == ended + timedelta(hours=24)
    assert report.closed
    # The IVIG stops counting at the end: two hours at the first rate.
    assert report.ivig_ml == round(ivig_ml_between(infusion, ended))
    assert report.balance_ml == report.ivig_ml - 300


def ivig_ml_between(infusion, end):
    segment = infusion.rate_segments.get()
    return segment.rate_ml_per_h * Decimal((end - segment.started_at).total_seconds()) / 3600


def test_the_next_days_start_closes_the_previous_days_balance(db, nurse):
    order = verified_order(regimen="five_days_0_4g_per_kg", cardiac_dysfunction=True, first_infusion_on=None)
    day1, day2 = order.infusions.order_by("day_number")[:2]
    t0 = timezone.now() - timedelta(hours=20)
    services.record_vitals(infusion_id=day1.pk, user=nurse, values=NORMAL_VITALS, taken_at=t0)
    services.start_infusion(
        infusion_id=day1.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(day1), started_at=t0
    )
    services.complete_infusion(infusion_id=day1.pk, user=nurse, completed_at=t0 + timedelta(hours=3))
    day2_start = timezone.now() - timedelta(minutes=30)
    services.record_vitals(infusion_id=day2.pk, user=nurse, values=NORMAL_VITALS, taken_at=day2_start)
    services.start_infusion(
        infusion_id=day2.pk,
        user=nurse,
        checklist=FULL_CHECKLIST,
        vials=day_vials(day2),
        started_at=day2_start,
        overrides={"before_scheduled_day": "Day 2 brought forward by the hematologist"},
    )
    day1.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        record(day1, nurse, kind="output", volume_ml=100, recorded_at=day2_start + timedelta(minutes=1))
    assert "closed at" in refused.value.message_dict["recorded_at"][0]
    assert record(day1, nurse, kind="output", volume_ml=100, recorded_at=day2_start).pk
    assert services.fluid_balance(day1).closes_at == day2_start


# --- API -------------------------------------------------------------------------------------------------------


@pytest.fixture
def nurse_api(client_for, nurse):
    return client_for(nurse)


def test_the_api_records_an_entry_and_answers_with_the_new_balance(cardiac, nurse_api, nurse):
    response = nurse_api.post(
        f"/api/v1/infusions/{cardiac.pk}/fluid-entries/",
        {"kind": "output", "volume_ml": 400, "description": "urine"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("infusion", "kind", "volume_ml", "description", "entered_by")} == {
        "infusion": cardiac.pk,
        "kind": "output",
        "volume_ml": 400,
        "description": "urine",
        "entered_by": nurse.username,
    }
    expected = round(ivig_ml(cardiac, timezone.now())) - 400
    assert abs(body["fluid_balance_ml"] - expected) <= 1
    read = nurse_api.get(f"/api/v1/infusions/{cardiac.pk}/").json()
    assert abs(read["fluid_balance_ml"] - expected) <= 1


def test_every_clinical_role_reads_the_balance_and_only_a_nurse_records(cardiac, client_for, pharmacist, hematologist):
    for reader in (pharmacist, hematologist):
        api = client_for(reader)
        body = api.get(f"/api/v1/infusions/{cardiac.pk}/fluid-entries/").json()
        assert body["kept_because"] == ["cardiac dysfunction"]
        assert body["entries"] == []
        assert body["fluid_balance_ml"] == body["ivig_ml"]
        refused = api.post(
            f"/api/v1/infusions/{cardiac.pk}/fluid-entries/", {"kind": "intake", "volume_ml": 100}, format="json"
        )
        assert refused.status_code == 403
    assert FluidEntry.objects.count() == 0


def test_the_api_lists_the_running_rows(cardiac, nurse_api, nurse):
    record(cardiac, nurse, volume_ml=300, recorded_at=timezone.now() - timedelta(minutes=60))
    record(cardiac, nurse, kind="output", volume_ml=500, recorded_at=timezone.now() - timedelta(minutes=10))
    body = nurse_api.get(f"/api/v1/infusions/{cardiac.pk}/fluid-entries/").json()
    assert [(e["kind"], e["volume_ml"], e["intake_ml"], e["output_ml"]) for e in body["entries"]] == [
        ("intake", 300, 300, 0),
        ("output", 500, 300, 500),
    ]
    assert body["entries"][1]["balance_ml"] == body["entries"][1]["ivig_ml"] - 200
    assert body["intake_ml"] == 300 and body["output_ml"] == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "intake", "volume_ml": 0}, "volume_ml"),
        ({"kind": "intake", "volume_ml": 9000}, "volume_ml"),
        ({"kind": "intake", "volume_ml": "lots"}, "volume_ml"),
        ({"kind": "drink", "volume_ml": 100}, "kind"),
        ({"volume_ml": 100}, "kind"),
        ({"kind": "intake", "volume_ml": 100, "recorded_at": "yesterday"}, "recorded_at"),
        ({"kind": "intake", "volume_ml": 100, "description": "y" * 201}, "description"),
    ],
)
def test_the_api_answers_a_bad_entry_with_400_and_its_field_error(cardiac, nurse_api, body, field):
    response = nurse_api.post(f"/api/v1/infusions/{cardiac.pk}/fluid-entries/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert FluidEntry.objects.count() == 0


def test_the_api_refuses_an_entry_where_no_balance_is_kept_with_400(db, nurse, nurse_api):
    infusion = started(nurse)
    response = nurse_api.post(
        f"/api/v1/infusions/{infusion.pk}/fluid-entries/", {"kind": "intake", "volume_ml": 100}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["non_field_errors"][0].startswith("No fluid balance is kept for this patient: ")
    assert nurse_api.get(f"/api/v1/infusions/{infusion.pk}/").json()["fluid_balance_ml"] is None
    body = nurse_api.get(f"/api/v1/infusions/{infusion.pk}/fluid-entries/").json()
    assert body.pop("started_at") is not None
    assert body == {
        "fluid_balance_ml": None,
        "kept_because": [],
        "closes_at": None,
        "as_of": None,
        "ivig_ml": None,
        "intake_ml": None,
        "output_ml": None,
        "entries": [],
    }


def test_an_unknown_infusion_is_404(db, nurse_api):
    assert nurse_api.get("/api/v1/infusions/999999/fluid-entries/").status_code == 404


# --- The bedside page ------------------------------------------------------------------------------------------


def post(client, infusion, **data):
    response = client.post(f"/orders/infusions/{infusion.pk}/fluid/", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_the_bedside_page_shows_the_balance_for_a_cardiac_patient(client, cardiac, nurse):
    record(cardiac, nurse, volume_ml=250, description="orange juice")
    client.force_login(nurse)
    page = client.get(f"/orders/infusions/{cardiac.pk}/").content.decode()
    assert 'data-testid="fluid-balance"' in page
    assert "Kept for cardiac dysfunction" in page
    assert "+250 mL intake: orange juice" in page
    assert 'data-testid="fluid-form"' in page


def test_the_bedside_page_shows_no_balance_where_none_is_kept(client, db, nurse):
    infusion = started(nurse)
    client.force_login(nurse)
    page = client.get(f"/orders/infusions/{infusion.pk}/").content.decode()
    assert 'data-testid="fluid-balance"' not in page


def test_the_bedside_form_records_an_entry(client, cardiac, nurse):
    client.force_login(nurse)
    page = post(client, cardiac, kind="output", volume_ml="350", description="urine")
    assert "Output of 350 mL recorded on the fluid balance." in page
    assert "−350 mL output: urine" in page
    assert FluidEntry.objects.get().volume_ml == 350


def test_a_bad_volume_on_the_bedside_form_is_shown_beside_the_field_and_what_was_typed_is_kept(client, cardiac, nurse):
    client.force_login(nurse)
    page = post(client, cardiac, kind="intake", volume_ml="6000", description="saline bag")
    assert 'data-field="volume_ml">6000 mL is more than 5000 mL in one entry' in page
    assert 'value="6000"' in page
    assert 'value="saline bag"' in page
    assert 'value="intake" required checked' in page
    assert FluidEntry.objects.count() == 0


def test_a_time_before_the_start_on_the_bedside_form_is_shown_beside_the_time(client, cardiac, nurse):
    client.force_login(nurse)
    typed = timezone.localtime(cardiac.started_at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = post(client, cardiac, kind="output", volume_ml="100", recorded_at=typed)
    assert 'data-field="recorded_at">This time is before the infusion' in page
    assert f'value="{typed}"' in page
    assert FluidEntry.objects.count() == 0


def test_a_time_typed_on_the_bedside_form_is_the_hospitals_local_time(client, cardiac, nurse):
    client.force_login(nurse)
    moment = timezone.localtime(timezone.now() - timedelta(minutes=30)).replace(second=0, microsecond=0)
    post(client, cardiac, kind="output", volume_ml="100", recorded_at=moment.strftime("%Y-%m-%dT%H:%M"))
    assert FluidEntry.objects.get().recorded_at == moment


def test_the_infusion_list_costs_the_same_queries_however_many_balances_it_shows(db, nurse, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = client_for(nurse)
    started(nurse, cardiac_dysfunction=True)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body = api.get("/api/v1/infusions/?status=in_progress").json()
        assert all(row["fluid_balance_ml"] is not None for row in body["results"])
        return len(captured)

    one = queries()
    for _ in range(3):
        infusion = started(nurse, cardiac_dysfunction=True)
        record(infusion, nurse, volume_ml=300)
    assert queries() == one


def test_verification_fixes_the_egfr_judgement_and_a_product_change_keeps_it(db, nurse, pharmacist, hematologist):
    from infusions.models import Product
    from patients.models import LabResult

    # 70-year-old woman, creatinine 200 µmol/L the day before: eGFR far below 60 when her course is verified.
    patient = PatientFactory(labs=False, sex="female", birth_date=timezone.localdate().replace(year=1956))
    for test, value, group in (("creatinine", "200", ""), ("hemoglobin", "130", ""), ("blood_group", None, "O+")):
        LabResult.objects.create(
            patient=patient,
            test=test,
            value_sent=value or group,
            value_si=Decimal(value) if value else None,
            blood_group=group,
            collected_at=timezone.now() - timedelta(days=1),
        )
    order = verified_order(patient=patient, regimen="two_days_1g_per_kg", prescriber=hematologist)
    assert order.record_flags["egfr_below_60"] is True
    assert services.fluid_balance_reasons(order) == ("eGFR below 60",)

    # A normal creatinine since does not undo the judgement, nor does changing the remaining days' product.
    LabResult.objects.create(
        patient=patient, test="creatinine", value_sent="60", value_si=Decimal("60"), collected_at=timezone.now()
    )
    order.infusions.filter(day_number=1).update(
        started_at=timezone.now() - timedelta(hours=30),
        status="completed",
        completed_at=timezone.now() - timedelta(hours=26),
    )
    Order.objects.filter(pk=order.pk).update(status="in_progress")
    changed = services.change_product(
        order_id=order.pk, user=pharmacist, product=Product.objects.get(name="Privigen"), reason="Shortage"
    )
    assert changed.record_flags["egfr_below_60"] is True
    assert services.fluid_balance_reasons(Order.objects.get(pk=order.pk)) == ("eGFR below 60",)

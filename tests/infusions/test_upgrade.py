"""The v2 upgrade (docs/clinical-rules.md §A8 "Upgrade"): orders verified under v1 meet v2 rules at their next start,
a stop caused only by data v1 did not collect is a warning for them, and the go-live report lists every open order
that would meet a stop."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import SafetyStopped
from infusions import services
from infusions.models import Infusion, Order, Product, SafetyRecord
from tests.factories import FULL_CHECKLIST, NORMAL_VITALS, PatientFactory, UserFactory, day_vials, verified_order

pytestmark = pytest.mark.db


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("list_safety_stops", *args, stdout=out)
    return out.getvalue()


def v1_order_with_an_iga_override(prescriber, verifier):
    """An IgA-deficient patient (anti-IgA antibodies unknown: v1 did not ask) given Gamunex-C with v1's IgA override
    reason, verified. v1 kept no safety records: the override lives only in the order's iga_override_reason."""
    patient = PatientFactory(serum_iga_mg_dl=Decimal("5"))
    order = services.create_order(
        data={
            "patient": patient,
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
            "iga_override_reason": "Anti-IgA antibodies negative at the referring hospital",
        },
        user=prescriber,
    )
    order = services.verify_order(order_id=order.pk, user=verifier)
    SafetyRecord.objects.filter(order=order).delete()
    return order


def start(infusion: Infusion, nurse) -> Infusion:
    return services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), overrides={}
    )


@pytest.fixture
def v1_order(hematologist, pharmacist, nurse):
    order = v1_order_with_an_iga_override(hematologist, pharmacist)
    infusion = order.infusions.get()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS)
    return order


def test_an_order_verified_before_the_upgrade_starts_with_the_iga_question_v1_did_not_ask_as_a_warning(
    settings, v1_order, nurse
):
    settings.IVIG_SAFETY_STOPS_SINCE = v1_order.verified_at + timedelta(seconds=1)
    infusion = start(v1_order.infusions.get(), nurse)
    assert infusion.status == "in_progress"
    [record] = SafetyRecord.objects.filter(order=v1_order, code="iga_conflict")
    assert record.kind == "warning"
    assert record.message.startswith("Verified before the v2 safety rules")


def test_an_order_verified_after_the_upgrade_meets_the_iga_stop_at_its_start(settings, v1_order, nurse):
    settings.IVIG_SAFETY_STOPS_SINCE = v1_order.verified_at - timedelta(seconds=1)
    infusion = v1_order.infusions.get()
    with pytest.raises(SafetyStopped) as refused:
        start(infusion, nurse)
    assert [(stop.code, str(stop.kind)) for stop in refused.value.stops] == [("iga_conflict", "override")]
    infusion.refresh_from_db()
    assert (infusion.status, infusion.started_at) == ("scheduled", None)
    assert not SafetyRecord.objects.filter(order=v1_order).exists()


def test_without_an_upgrade_moment_every_order_is_a_v2_order(settings, v1_order, nurse):
    settings.IVIG_SAFETY_STOPS_SINCE = None
    with pytest.raises(SafetyStopped):
        start(v1_order.infusions.get(), nurse)


def test_a_stop_on_data_v1_did_collect_stays_a_stop_for_an_order_verified_before_the_upgrade(settings, v1_order, nurse):
    settings.IVIG_SAFETY_STOPS_SINCE = v1_order.verified_at + timedelta(seconds=1)
    Order.objects.filter(pk=v1_order.pk).update(hold_reason="Anaphylaxis on an earlier day")
    with pytest.raises(SafetyStopped) as refused:
        start(v1_order.infusions.get(), nurse)
    assert [stop.code for stop in refused.value.stops] == ["course_on_hold"]


def test_the_go_live_report_lists_each_open_order_that_would_meet_a_stop(
    settings, hematologist, pharmacist, client_for
):
    settings.IVIG_SAFETY_STOPS_SINCE = None
    clear = verified_order(prescriber=hematologist, verifier=pharmacist)
    gammagard = Product.objects.get(name="Gammagard S/D")
    draft = services.create_order(
        data={
            "patient": PatientFactory(),
            "regimen": "one_dose_1g_per_kg",
            "product": gammagard,
            "baseline_platelet_count": 12,
            "first_infusion_on": timezone.localdate(),
            "prepared_concentration_percent": Decimal("5"),
        },
        user=hematologist,
    )
    v1 = v1_order_with_an_iga_override(hematologist, UserFactory(role="pharmacist"))
    text = report()
    assert f"order #{draft.pk} (draft" in text
    assert "rate_plan_incomplete [hard, at verify]" in text
    assert f"order #{v1.pk} (verified" in text and "iga_conflict [override, at verify]" in text
    assert f"order #{clear.pk} " not in text
    assert text.rstrip().endswith("2 open order(s) would meet a stop; 2 stop(s).")

    rows = list(csv.DictReader(io.StringIO(report("--format", "csv"))))
    assert [(int(row["order"]), row["code"], row["kind"]) for row in rows] == [
        (draft.pk, "rate_plan_incomplete", "hard"),
        (v1.pk, "iga_conflict", "override"),
    ]
    # Set the upgrade moment after v1's verification: its IgA question becomes a warning, no longer a stop.
    settings.IVIG_SAFETY_STOPS_SINCE = v1.verified_at + timedelta(seconds=1)
    assert [row["order"] for row in csv.DictReader(io.StringIO(report("--format", "csv")))] == [str(draft.pk)]


def test_the_go_live_report_checks_a_running_courses_next_day_with_the_standing_start_stops(
    settings, hematologist, pharmacist, nurse
):
    settings.IVIG_SAFETY_STOPS_SINCE = None
    order = verified_order(regimen="two_days_1g_per_kg", prescriber=hematologist, verifier=pharmacist)
    day1 = order.infusions.get(day_number=1)
    services.record_vitals(infusion_id=day1.pk, user=nurse, values=NORMAL_VITALS)
    start(day1, nurse)
    assert report().rstrip().endswith("0 open order(s) would meet a stop; 0 stop(s).")
    Order.objects.filter(pk=order.pk).update(hold_reason="Anaphylaxis on day 1")
    order.patient.__class__.objects.filter(pk=order.patient_id).update(hereditary_fructose_intolerance=True)
    text = report()
    assert f"order #{order.pk} (in_progress" in text
    assert "course_on_hold [hard, at start]" in text
    # Gamunex-C has no sorbitol: fructose intolerance raises nothing; the moment-dependent stops are not checked.
    assert "fructose_intolerance" not in text and "before_scheduled_day" not in text
    assert text.rstrip().endswith("1 open order(s) would meet a stop; 1 stop(s).")


def test_the_go_live_report_in_csv_writes_an_mrn_that_looks_like_a_formula_as_text(
    settings, hematologist, pharmacist, nurse
):
    settings.IVIG_SAFETY_STOPS_SINCE = None
    formula = "=1+1"
    order = verified_order(regimen="two_days_1g_per_kg", prescriber=hematologist, verifier=pharmacist, mrn=formula)
    day1 = order.infusions.get(day_number=1)
    services.record_vitals(infusion_id=day1.pk, user=nurse, values=NORMAL_VITALS)
    start(day1, nurse)
    Order.objects.filter(pk=order.pk).update(hold_reason="Anaphylaxis on day 1")

    rows = list(csv.DictReader(io.StringIO(report("--format", "csv"))))

    assert [(row["patient_mrn"], row["code"]) for row in rows] == [("'=1+1", "course_on_hold")]

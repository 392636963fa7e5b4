"""``benchmarks.synthetic_dataset.build`` at a tiny scale: the counts it promises, and data the real rules agree
with."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.db.models import Count

from benchmarks import synthetic_dataset
from benchmarks.synthetic_dataset import DatasetError
from infusions import dosing, services
from infusions.models import Infusion, Order, OrderStatus, VitalSignsEntry
from monitoring import response_rules as rules
from monitoring.models import CheckStatus, Notification, OrderResponse, PlateletCheck, PlateletResult
from patients.models import Patient, WeightMeasurement

pytestmark = pytest.mark.db

SCALE = 0.002  # 20 patients, 40 orders, 2,000 vitals: about a second
PATIENTS = 20
VITALS = 2_000


def build(*, append: bool = False) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    synthetic_dataset.build(scale=SCALE, batch_size=500, append=append, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def table_counts() -> dict[str, int]:
    models: tuple[Any, ...] = (
        Patient,
        WeightMeasurement,
        Order,
        Infusion,
        VitalSignsEntry,
        PlateletCheck,
        PlateletResult,
        OrderResponse,
        Notification,
    )
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def built(db: Any) -> tuple[str, str]:
    return build()


def orders_whose_first_infusion_ended() -> set[int]:
    return set(
        Infusion.objects.filter(day_number=1, started_at__isnull=False, completed_at__isnull=False).values_list(
            "order_id", flat=True
        )
    )


def test_it_builds_the_promised_counts_and_reports_them(built: tuple[str, str]) -> None:
    out, err = built
    assert Patient.objects.count() == PATIENTS
    assert Order.objects.count() == 2 * PATIENTS
    assert set(Order.objects.values("patient").annotate(n=Count("pk")).values_list("n", flat=True)) == {2}
    assert not Patient.objects.filter(weights__isnull=True).exists()
    ended = orders_whose_first_infusion_ended()
    assert ended, "some courses of the last year must have been given"
    assert PlateletCheck.objects.count() == 4 * len(ended)
    assert set(PlateletCheck.objects.values_list("order_id", flat=True)) == ended
    assert set(OrderResponse.objects.values_list("order_id", flat=True)) == ended
    assert VitalSignsEntry.objects.count() == VITALS
    started = Infusion.objects.filter(started_at__isnull=False)
    assert not started.filter(vitals__isnull=True).exists(), "every given infusion has vitals (its baseline first)"
    assert not Infusion.objects.filter(started_at__isnull=True, vitals__isnull=False).exists()
    assert re.search(rf"^\s+patients\s+{PATIENTS}$", out, re.MULTILINE)
    assert re.search(rf"^\s+vital signs\s+{VITALS:,}$", out, re.MULTILINE)
    assert "Synthetic dataset built in" in out
    assert "vitals" in err and "[####################]" in err and f"{VITALS:,}/{VITALS:,}" in err


def test_states_follow_the_clock_like_the_services_leave_them(built: tuple[str, str]) -> None:
    for order in Order.objects.prefetch_related("infusions"):
        infusions = list(order.infusions.all())
        if order.status == OrderStatus.DRAFT:
            assert not infusions and order.verified_by_id is None
            continue
        if order.status == OrderStatus.CANCELLED:
            assert order.cancel_reason and all(i.started_at is None for i in infusions)
            continue
        assert len(infusions) == order.days and order.verified_by_id != order.created_by_id
        done = [i.status == "completed" for i in infusions]
        assert (order.status == OrderStatus.COMPLETED) == all(done)
    for check in PlateletCheck.objects.all():
        assert (check.status == CheckStatus.RESULTED) == PlateletResult.objects.filter(platelet_check=check).exists()


def test_categories_and_responses_are_those_of_the_real_rules(built: tuple[str, str]) -> None:
    results = list(PlateletResult.objects.select_related("order", "platelet_check"))
    assert results
    for result in results:
        expected = rules.classify(result.platelet_count, result.order.baseline_platelet_count, result.bleeding)
        assert result.category == expected
        assert result.platelet_check.category == expected
        assert result.platelet_check.platelet_count == result.platelet_count
    categories = set()
    for response in OrderResponse.objects.select_related("order"):
        order = response.order
        first = order.infusions.get(day_number=1)
        own = [r for r in results if r.order_id == order.pk]
        assessment = rules.assess_response(
            baseline_count=order.baseline_platelet_count,
            results=[
                rules.PlateletReading(r.platelet_count, r.collected_at, r.bleeding, r.platelet_check.label) for r in own
            ],
            first_infusion_started_at=first.started_at,
            first_infusion_completed_at=first.completed_at,
            repeat_decision_made=bool(response.repeat_decision),
            assessed_at=response.assessed_at,
        )
        latest = max(own, key=lambda r: r.collected_at, default=None)
        assert response.category == assessment.category
        assert response.best_platelet_count == assessment.best_platelet_count
        assert response.latest_platelet_count == (latest.platelet_count if latest else None)
        assert response.time_to_response_hours == assessment.time_to_response_hours
        assert response.repeat_dose_recommended == assessment.repeat_dose_recommended
        categories.add(response.category)
    assert len(categories) >= 2, "a mix of responses, not one category"


def test_each_working_is_what_the_dosing_engine_gives(built: tuple[str, str]) -> None:
    compared = ("dosing_weight_kg", "dosing_weight_basis", "rounded_dose_per_day_g", "days", "total_dose_g")
    for order in Order.objects.select_related("patient", "product", "weight_measurement"):
        facts = services.patient_facts(order.patient, order.weight_measurement, order.first_infusion_on)
        calculation = dosing.calculate_dose(
            facts, order.product.facts(), order.regimen, services.dosing_config(), emergency=order.emergency
        )
        expected = services.working_fields(calculation, order.weight_measurement, facts)
        assert {name: getattr(order, name) for name in compared} == {name: expected[name] for name in compared}
        assert order.vials_per_day == expected["vials_per_day"] and order.age_years == facts.age_years


def test_a_second_run_refuses_and_changes_nothing_unless_appending(built: tuple[str, str]) -> None:
    before = table_counts()
    with pytest.raises(DatasetError, match="--append"):
        build()
    assert table_counts() == before
    build(append=True)
    assert Patient.objects.count() == 2 * PATIENTS
    assert Patient.objects.values("mrn").distinct().count() == 2 * PATIENTS
    assert VitalSignsEntry.objects.count() == 2 * VITALS


def test_the_patients_option_is_the_scale_of_that_many_patients() -> None:
    assert synthetic_dataset.parse_args(["--patients", "20"]).scale == pytest.approx(float(SCALE))
    assert synthetic_dataset.parse_args([]).scale == 1.0
